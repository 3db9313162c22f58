//! Generates the `xlfeed.v1` Rust types without a system `protoc`: protox compiles every
//! `.proto` file under `proto/xlfeed/v1/` into a file descriptor set, prost-build turns
//! that set into Rust code, and the encoded set itself is written next to it for
//! `FILE_DESCRIPTOR_SET` (gRPC reflection).

use std::{env, error::Error, fs, path::PathBuf, process::ExitCode};

/// Include root: an import would read `import "xlfeed/v1/other.proto";` relative to it.
const PROTO_ROOT: &str = "proto";

/// The package's folder. Every `.proto` file in it is compiled, so a new file (next to
/// the gRPC service's `query.proto`) needs no change here.
const PACKAGE_DIR: &str = "proto/xlfeed/v1";

/// File name of the encoded descriptor set in `OUT_DIR`. The `.bin` suffix lets
/// `tonic::include_file_descriptor_set!("xlfeed_v1_descriptor")` find it too.
const DESCRIPTOR_FILE: &str = "xlfeed_v1_descriptor.bin";

fn main() -> ExitCode {
    match generate() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: failed to generate xlfeed.v1 code: {err}");
            ExitCode::FAILURE
        }
    }
}

fn generate() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");

    let files = proto_files()?;
    let mut compiler = protox::Compiler::new([PROTO_ROOT])?;
    compiler
        .include_imports(true)
        // Source info carries the .proto comments into the generated doc comments.
        .include_source_info(true)
        .open_files(&files)?;

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    let descriptor_path = out_dir.join(DESCRIPTOR_FILE);
    fs::write(&descriptor_path, compiler.encode_file_descriptor_set())
        .map_err(|err| format!("cannot write {}: {err}", descriptor_path.display()))?;

    prost_build::Config::new().compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}

/// The `.proto` files of the package, sorted so that the output does not depend on
/// directory order.
fn proto_files() -> Result<Vec<PathBuf>, Box<dyn Error>> {
    let entries =
        fs::read_dir(PACKAGE_DIR).map_err(|err| format!("cannot read {PACKAGE_DIR}: {err}"))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "proto") {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(format!("no .proto files in {PACKAGE_DIR}").into());
    }
    files.sort();
    Ok(files)
}
