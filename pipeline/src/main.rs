//! `xlpipeline`: the command-line entry to xlfeed's data flow (see the `xlfeed_pipeline` crate).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    xlfeed_pipeline::init_tracing();
    xlfeed_pipeline::cli().await
}
