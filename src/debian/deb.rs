//! A `.deb`: an `ar` archive holding `debian-binary`, `control.tar.*` and `data.tar.*`; only the
//! data is unpacked, with the `tar` crate's checked `unpack_in` (no entry lands outside the
//! destination, through `..` or a symlink).

use super::Error;
use std::io::Read;
use std::path::Path;

/// Unpacks the data of `deb` (read from `file`, named in errors) into `dest`.
pub fn unpack(deb: &[u8], file: &str, dest: &Path) -> Result<(), Error> {
    let bad = |message: String| Error::BadDeb {
        file: file.to_string(),
        message,
    };
    let mut ar = ar::Archive::new(deb);
    let mut magic_seen = false;
    while let Some(member) = ar.next_entry() {
        let mut member = member.map_err(|e| bad(e.to_string()))?;
        let name = String::from_utf8_lossy(member.header().identifier()).into_owned();
        if name == "debian-binary" {
            let mut version = String::new();
            member
                .read_to_string(&mut version)
                .map_err(|e| bad(e.to_string()))?;
            if !version.starts_with("2.") {
                return Err(bad(format!("format version '{}'", version.trim())));
            }
            magic_seen = true;
            continue;
        }
        let Some(compression) = name.strip_prefix("data.tar") else {
            continue;
        };
        if !magic_seen {
            return Err(bad("data comes before debian-binary".into()));
        }
        let reader: Box<dyn Read + '_> = match compression {
            ".xz" => Box::new(liblzma::read::XzDecoder::new(member)),
            ".zst" => Box::new(zstd::Decoder::new(member).map_err(|e| bad(e.to_string()))?),
            ".gz" => Box::new(flate2::read::GzDecoder::new(member)),
            "" => Box::new(member),
            other => return Err(bad(format!("data.tar{other}: an unknown compression"))),
        };
        let unpack_error = |message: String| Error::Unpack {
            file: file.to_string(),
            dest: dest.to_path_buf(),
            message,
        };
        let mut tar = tar::Archive::new(reader);
        tar.set_preserve_mtime(true);
        tar.set_overwrite(true);
        for entry in tar.entries().map_err(|e| bad(e.to_string()))? {
            let mut entry = entry.map_err(|e| bad(format!("data.tar{compression}: {e}")))?;
            // Device nodes and FIFOs are for dpkg as root; a Python runtime has none.
            if !matches!(
                entry.header().entry_type(),
                tar::EntryType::Regular
                    | tar::EntryType::Directory
                    | tar::EntryType::Symlink
                    | tar::EntryType::Link
            ) {
                continue;
            }
            let unpacked = entry
                .unpack_in(dest)
                .map_err(|e| unpack_error(e.to_string()))?;
            if !unpacked {
                let path = entry.path().map(|p| p.display().to_string());
                return Err(bad(format!(
                    "the entry {} points outside the package",
                    path.unwrap_or_default()
                )));
            }
        }
        return Ok(());
    }
    Err(bad("no data.tar member".into()))
}
