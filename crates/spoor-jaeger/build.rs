//! Generates the Jaeger api_v2 model and query service, and the api_v3 query service, from the
//! protos in `proto/` (a copy of jaeger-idl v0.9.0 and its imports). OTLP messages map onto
//! the `opentelemetry-proto` crate so that api_v3 speaks the same types as the pipeline.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let protoc_include = protoc_bin_vendored::include_path()?;
    // SAFETY: build scripts are single-threaded; prost-build reads PROTOC from the environment.
    unsafe { std::env::set_var("PROTOC", protoc) };

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let proto_dir = PathBuf::from("proto");
    println!("cargo:rerun-if-changed=proto");

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .file_descriptor_set_path(out_dir.join("jaeger_descriptor.bin"))
        .extern_path(".opentelemetry.proto", "::opentelemetry_proto::tonic")
        .compile_protos(
            &[
                proto_dir.join("api_v2/query.proto"),
                proto_dir.join("api_v3/query_service.proto"),
                proto_dir.join("api_v2/collector.proto"),
                proto_dir.join("api_v2/sampling.proto"),
                proto_dir.join("zipkin/zipkin.proto"),
            ],
            &[proto_dir.clone(), proto_dir.join("api_v2"), proto_dir.join("gnostic"), protoc_include],
        )?;
    Ok(())
}
