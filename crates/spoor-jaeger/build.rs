//! Generates the Jaeger api_v2 model, collector, sampling and query services, the api_v3 query
//! service and Zipkin's proto3 model from the workspace's copy of the IDL in `testdata/idl`
//! (jaeger-idl v0.9.0, its third-party imports, and zipkin-api). The OTLP protos api_v3 imports
//! are in `proto/`; their messages map onto the `opentelemetry-proto` crate so that api_v3
//! speaks the same types as the pipeline.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let protoc_include = protoc_bin_vendored::include_path()?;
    // SAFETY: build scripts are single-threaded; prost-build reads PROTOC from the environment.
    unsafe { std::env::set_var("PROTOC", protoc) };

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let otlp_dir = PathBuf::from("proto");
    let idl = PathBuf::from("../../testdata/idl");
    let (jaeger, third_party, zipkin) = (idl.join("proto"), idl.join("third_party"), idl.join("zipkin"));
    for dir in [&otlp_dir, &jaeger, &third_party, &zipkin] {
        println!("cargo:rerun-if-changed={}", dir.display());
    }

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .file_descriptor_set_path(out_dir.join("jaeger_descriptor.bin"))
        .extern_path(".opentelemetry.proto", "::opentelemetry_proto::tonic")
        .compile_protos(
            &[
                jaeger.join("api_v2/query.proto"),
                jaeger.join("api_v3/query_service.proto"),
                jaeger.join("api_v2/collector.proto"),
                jaeger.join("api_v2/sampling.proto"),
                zipkin.join("zipkin.proto"),
            ],
            &[
                jaeger.clone(),
                jaeger.join("api_v2"),
                third_party.clone(),
                third_party.join("gnostic"),
                zipkin,
                otlp_dir,
                protoc_include,
            ],
        )?;
    Ok(())
}
