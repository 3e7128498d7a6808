use api::{handle, App};
use lambda_http::{service_fn, Request};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    coinlake::telemetry::init_json_logs();
    let app = App::from_env().await.inspect_err(|error| {
        tracing::error!(error = %error, "api failed to start");
    })?;
    let app = &app;
    lambda_http::run(service_fn(move |request: Request| handle(app, request))).await
}
