//! Generates the gRPC service code of `xlfeed.v1.QueryService` (server and client) without a
//! system `protoc`: protox compiles `query.proto` from the proto crate, and tonic-prost-build
//! writes the service modules only. The messages are `xlfeed_proto::v1`'s, so the wire
//! types stay defined once.

use std::{error::Error, process::ExitCode};

/// Include root of the `xlfeed.v1` package, in the proto crate.
const PROTO_ROOT: &str = "../proto/proto";

/// The file that declares the service, relative to [`PROTO_ROOT`].
const SERVICE_FILE: &str = "xlfeed/v1/query.proto";

fn main() -> ExitCode {
    match generate() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: failed to generate the xlfeed.v1 gRPC service: {err}");
            ExitCode::FAILURE
        }
    }
}

fn generate() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}/{SERVICE_FILE}");

    let mut compiler = protox::Compiler::new([PROTO_ROOT])?;
    compiler
        .include_imports(true)
        // Source info carries the .proto comments into the generated doc comments.
        .include_source_info(true)
        .open_files([SERVICE_FILE])?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Every message of the package comes from the proto crate.
        .extern_path(".xlfeed.v1", "::xlfeed_proto::v1")
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}
