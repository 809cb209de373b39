//! Downloads from a mirror: `http://`, `https://` (ureq, rustls with the webpki roots) or
//! `file://` (a local mirror, for offline builds and tests). Bodies are read into memory: the
//! largest file fetched, an architecture's `Packages.xz`, is about 10 MB.

use super::Error;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};

pub struct Transport {
    agent: ureq::Agent,
    quiet: bool,
}

/// For a file whose size nothing lists (InRelease, about 150 KB): a server that sends more is
/// refused. A file whose size an index lists is read to that size and one byte more.
const UNLISTED_LIMIT: u64 = 32 << 20;

impl Transport {
    pub fn new(quiet: bool) -> Transport {
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(std::time::Duration::from_secs(20)))
            .timeout_per_read(Some(std::time::Duration::from_secs(60)))
            .user_agent(concat!("rvenv/", env!("CARGO_PKG_VERSION")))
            .build();
        Transport {
            agent: ureq::Agent::new_with_config(config),
            quiet,
        }
    }

    /// The bytes of `url`; `expected` is the size an index lists, so a short read is named as
    /// such. `label` is what the progress line calls it.
    pub fn get(
        &self,
        url: &str,
        label: &str,
        expected: Option<u64>,
        interrupted: &AtomicBool,
    ) -> Result<Vec<u8>, Error> {
        let failed = |message: String| Error::Download {
            url: url.to_string(),
            message,
        };
        let (reader, length): (Box<dyn Read>, Option<u64>) =
            if let Some(path) = url.strip_prefix("file://") {
                let path = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
                let file = std::fs::File::open(path.as_ref()).map_err(|e| failed(e.to_string()))?;
                let len = file.metadata().map(|m| m.len()).ok();
                (Box::new(file), len)
            } else if url.starts_with("http://") || url.starts_with("https://") {
                let response = self
                    .agent
                    .get(url)
                    .call()
                    .map_err(|e| failed(e.to_string()))?;
                let body = response.into_body();
                let len = body.content_length();
                (Box::new(body.into_reader()), len)
            } else {
                return Err(failed(
                    "only http://, https:// and file:// mirrors are supported".into(),
                ));
            };
        let total = expected.or(length);
        let limit = expected.unwrap_or(UNLISTED_LIMIT);
        let progress = crate::ui::Transfer::new(self.quiet, label, total);
        let mut bytes = Vec::with_capacity(total.unwrap_or(0).min(limit) as usize);
        let mut reader = reader.take(limit + 1);
        let mut buf = vec![0u8; 64 << 10];
        loop {
            if interrupted.load(Ordering::Relaxed) {
                return Err(crate::interrupt::Interrupted.into());
            }
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(match total {
                        Some(expected) => Error::Truncated {
                            url: url.to_string(),
                            got: bytes.len() as u64,
                            expected,
                        },
                        None => failed(e.to_string()),
                    });
                }
            };
            bytes.extend_from_slice(&buf[..n]);
            progress.inc(n as u64);
        }
        if expected.is_none() && bytes.len() as u64 > limit {
            return Err(failed(format!("larger than {limit} bytes")));
        }
        if let Some(expected) = total
            && (bytes.len() as u64) < expected
        {
            return Err(Error::Truncated {
                url: url.to_string(),
                got: bytes.len() as u64,
                expected,
            });
        }
        progress.done(bytes.len() as u64);
        Ok(bytes)
    }
}
