//! The `--www` folder: static files, compressed as a CDN serves them (brotli or gzip, as
//! the request's `Accept-Encoding` prefers), so that the demo, the end-to-end tests and the
//! benchmarks load the bytes a deployment's visitors load.

use std::path::Path;
use tower_http::compression::Compression;
use tower_http::services::ServeDir;

/// The files under `dir`, compressed on the fly: brotli at quality 4 and gzip at level 6
/// (tower-http's defaults, nginx's and CDNs' usual on-the-fly settings), for text, JSON,
/// JavaScript and WebAssembly alike; images and bodies under 32 bytes go as they are.
pub(crate) fn files(dir: &Path) -> Compression<ServeDir> {
    Compression::new(ServeDir::new(dir))
}
