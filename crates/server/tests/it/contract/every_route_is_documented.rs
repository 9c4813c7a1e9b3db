//! The document and the router name the same routes: a route added without documentation, or
//! documentation of a route that does not exist, fails here.

use super::document::Contract;
use flashgate_testkit::Backend;
use reqwest::Method;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The paths given to `.route(…)` in the HTTP layer's sources, its submodules' included.
fn routed_paths() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut paths = BTreeSet::new();
    for source in sources(&dir) {
        let source = std::fs::read_to_string(source).unwrap();
        for (_, rest) in source
            .match_indices(".route(")
            .map(|(i, _)| source.split_at(i + 7))
        {
            let rest = rest.trim_start();
            if let Some(literal) = rest.strip_prefix('"') {
                paths.insert(literal.split('"').next().unwrap().to_owned());
            }
        }
    }
    assert!(!paths.is_empty(), "no routes found in {}", dir.display());
    paths
}

/// The Rust files under `dir`, at any depth.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_and_the_router_name_the_same_routes_and_methods() {
    let app = crate::service::spawn(Backend::Sqlite).start().await;
    let api = app.api(0);
    let contract = Contract::new(api.get("/openapi.json", None).await.assert_status(200));
    let documented: BTreeSet<String> = contract
        .operations()
        .into_iter()
        .map(|(path, _)| path)
        .collect();
    assert_eq!(
        routed_paths(),
        documented,
        "the router's paths (left) and the document's (right) differ"
    );
    // The live router tells which methods a path serves: asked with one it does not, it answers 405
    // with `Allow`, which the contract compares with the documented methods.
    for path in &documented {
        let concrete = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "1"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let answer = api.send(api.request(Method::OPTIONS, &concrete)).await;
        contract.check(&Method::OPTIONS, &concrete, &answer);
        assert_eq!(answer.status, 405, "{path}: {answer:?}");
    }
}

#[test]
fn every_operation_has_a_unique_id_and_only_documented_schemas_are_referenced() {
    let doc: serde_json::Value =
        serde_json::to_value(&*flashgate::http::openapi::DOCUMENT).unwrap();
    let contract = Contract::new(doc.clone());
    let mut ids = BTreeSet::new();
    for (path, method) in contract.operations() {
        let id = doc["paths"][&path][&method]["operationId"]
            .as_str()
            .unwrap();
        assert!(ids.insert(id.to_owned()), "{id} names two operations");
    }
    let text = doc.to_string();
    for (i, _) in text.match_indices("\"$ref\":\"#/") {
        let reference = text[i + 8..].split('"').next().unwrap();
        assert!(
            doc.pointer(reference.trim_start_matches('#')).is_some(),
            "{reference} does not resolve"
        );
    }
}

/// Patterns are ECMA-262 regular expressions, as JSON Schema says: Unicode property escapes such as
/// `\p{Cc}` need a flag JSON Schema does not set, and common OpenAPI tools (validators, fuzzers)
/// refuse the document or skip the operations that carry them.
#[test]
fn every_pattern_is_a_plain_ecma_regular_expression() {
    let doc: serde_json::Value =
        serde_json::to_value(&*flashgate::http::openapi::DOCUMENT).unwrap();
    let text = doc.to_string();
    let mut patterns = 0;
    for (i, _) in text.match_indices("\"pattern\":\"") {
        let pattern = text[i + 11..].split("\",").next().unwrap();
        patterns += 1;
        for escape in ["\\\\p{", "\\\\P{"] {
            assert!(!pattern.contains(escape), "{pattern}");
        }
    }
    assert!(patterns > 0, "the document has patterns to look at");
}
