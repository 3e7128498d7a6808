//! The EMF metric the handler writes for every request: its answer time, by status class.

use crate::common::{call, get, World};
use coinlake::metrics::Metrics;
use serde_json::Value;

#[tokio::test]
async fn every_request_writes_its_answer_time_by_status_class() {
    // GIVEN the api with its metrics captured
    let world = World::new().await;
    let mut app = world.app(&[]).await;
    let (metrics, captured) = Metrics::captured("coinlake-ApiFunction-Test");
    app.metrics = metrics;

    // WHEN it answers a good request, an unknown path, a bad parameter and a wrong method
    assert_eq!(get(&app, "/api/latest").await.status, 200);
    assert_eq!(get(&app, "/api/nothing").await.status, 404);
    assert_eq!(get(&app, "/api/history").await.status, 400);
    assert_eq!(call(&app, "POST", "/api/latest", &[]).await.status, 405);

    // THEN each wrote one RequestDuration under its class
    let lines: Vec<Value> = captured
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let classes: Vec<&str> = lines
        .iter()
        .map(|l| l["StatusClass"].as_str().unwrap())
        .collect();
    assert_eq!(classes, ["2xx", "4xx", "4xx", "4xx"]);
    for line in &lines {
        assert_eq!(line["Function"], "coinlake-ApiFunction-Test");
        assert!(line["RequestDuration"].as_f64().unwrap() >= 0.0);
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["Function", "StatusClass"]])
        );
    }
}
