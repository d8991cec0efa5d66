//! `--www`: static files go compressed, brotli or gzip as the request accepts, the way a
//! CDN serves them; the bytes decode to the file, and a client asking for neither gets it as is.

mod common;

use common::*;
use reekolect_proxy::cli::ServeArgs;
use reekolect_proxy::{start, Upstream};
use std::io::Read;
use std::path::PathBuf;

/// A temporary `--www` folder, removed when dropped.
struct Folder(PathBuf);

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Files served: name, expected Content-Type, contents.
type Files = Vec<(&'static str, &'static str, Vec<u8>)>;

/// A folder with a script, a wasm module and a tiny text file; their contents.
fn folder() -> (Folder, Files) {
    let dir = std::env::temp_dir().join(format!("reekolect-www-compressed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script: Vec<u8> =
        (0..400).flat_map(|n| format!("export const value{n} = 'plant {n}';\n").into_bytes()).collect();
    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    wasm.extend((0..20_000u32).map(|n| (n % 7 * 31 + n / 1000) as u8));
    let files = vec![("app.js", "text/javascript", script), ("module.wasm", "application/wasm", wasm)];
    for (name, _, bytes) in &files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    std::fs::write(dir.join("tiny.txt"), "ok").unwrap();
    (Folder(dir), files)
}

/// `GET {base}/{path}` with `Accept-Encoding: accept` when given: (Content-Encoding, Vary, Content-Type, raw body).
async fn get(base: &str, path: &str, accept: Option<&str>) -> (Option<String>, String, String, Vec<u8>) {
    let mut request = client().get(format!("{base}/{path}"));
    if let Some(accept) = accept {
        request = request.header("accept-encoding", accept);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    let (encoding, vary, kind) =
        (header("content-encoding"), header("vary").unwrap_or_default(), header("content-type").unwrap());
    (encoding, vary, kind, response.bytes().await.unwrap().to_vec())
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli_decompressor::Decompressor::new(bytes, 4096).read_to_end(&mut out).unwrap();
    out
}

#[tokio::test]
async fn www_files_go_compressed_as_the_request_accepts() {
    bounded(async {
        let (dir, files) = folder();
        let args = ServeArgs {
            listen: "127.0.0.1:0".parse().unwrap(),
            upstream: Some(Upstream::Mock),
            www: Some(dir.0.clone()),
            ..ServeArgs::new()
        };
        let serving = start(args, None).await.unwrap();
        let base = serving.proxy.url();
        for (name, kind, original) in &files {
            // What Chromium, Firefox and Safari send: brotli wins.
            let (encoding, vary, content_type, body) = get(&base, name, Some("gzip, deflate, br, zstd")).await;
            assert_eq!(encoding.as_deref(), Some("br"), "{name}");
            assert!(vary.to_ascii_lowercase().contains("accept-encoding"), "{name}: Vary {vary:?}");
            assert_eq!(&content_type, kind);
            assert!(body.len() < original.len() / 4, "{name}: {} B brotli of {} B", body.len(), original.len());
            assert_eq!(&unbrotli(&body), original, "{name}");

            let (encoding, _, _, body) = get(&base, name, Some("gzip")).await;
            assert_eq!(encoding.as_deref(), Some("gzip"), "{name}");
            assert!(body.len() < original.len() / 4, "{name}: {} B gzip of {} B", body.len(), original.len());
            assert_eq!(&gunzip(&body), original, "{name}");

            let (encoding, _, _, body) = get(&base, name, None).await;
            assert_eq!(encoding, None, "{name}: no Accept-Encoding, no encoding");
            assert_eq!(&body, original, "{name}");
        }
        // A body too small to gain from compression goes as it is.
        let (encoding, _, _, body) = get(&base, "tiny.txt", Some("br, gzip")).await;
        assert_eq!((encoding, body), (None, b"ok".to_vec()));
        serving.shutdown().await.unwrap();
    })
    .await
}
