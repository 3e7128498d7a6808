use klines::{handle, App};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    coinlake::telemetry::init_json_logs();
    let app = App::from_env().await.inspect_err(|error| {
        tracing::error!(error = %error, "klines failed to start");
    })?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        handle(app, event)
    }))
    .await
}
