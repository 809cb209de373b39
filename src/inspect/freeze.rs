//! For `rvenv freeze`: the distributions installed in a venv, a bundle or a tarball.

use super::gather::gather_tarball;
use super::report::kept_distributions;
use super::scan::{components, in_site_packages};
use super::{Error, Layout, layout, read_error};
use crate::python::{dist, venv};
use std::path::Path;

/// The distributions installed in a venv, an extracted bundle or a bundle tarball, with the
/// Python minor version (which decides what pip freeze hides).
pub fn distributions(path: &Path) -> Result<(Vec<dist::Distribution>, u32), Error> {
    match layout(path)? {
        Layout::Venv => match venv::Venv::discover(path) {
            Ok(venv) => Ok((dist::find(&venv.site_packages())?, venv.version.minor)),
            // The moment a venv must be recreated is when its freeze is wanted: the metadata
            // in site-packages is enough.
            Err(e) if e.base_is_unusable() => {
                let what = if matches!(e, venv::Error::SystemSitePackages { .. }) {
                    "only the venv's own packages are listed (as `pip freeze --local` lists them)"
                } else {
                    "listed from the metadata in its site-packages"
                };
                crate::ui::warning(&format!("{e}: {what}"));
                own_site_packages(path)
            }
            Err(e) => Err(e.into()),
        },
        Layout::Bundle => own_site_packages(path),
        Layout::Tarball => {
            let g = gather_tarball(path)?;
            let minor = g
                .files
                .iter()
                .find_map(|(p, _)| {
                    let parts = components(p);
                    in_site_packages(&parts)?;
                    venv::version_from_name(Path::new(&parts[1])).map(|v| v.minor)
                })
                .ok_or_else(|| Error::NoSitePackages(path.to_path_buf()))?;
            let dists = kept_distributions(&g, path, true)?;
            Ok((dists, minor))
        }
    }
}

/// The distributions of `lib/pythonX.Y/site-packages` under `path` (a bundle, or a venv whose
/// base is gone), read without any interpreter.
fn own_site_packages(path: &Path) -> Result<(Vec<dist::Distribution>, u32), Error> {
    let lib = path.join("lib");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&lib).map_err(read_error(&lib))? {
        let dir = entry.map_err(read_error(&lib))?.path();
        if let Some(v) = venv::version_from_name(&dir)
            && dir.join("site-packages").is_dir()
        {
            found.push((dir.join("site-packages"), v.minor));
        }
    }
    found.sort();
    let (site, minor) = found
        .into_iter()
        .next()
        .ok_or_else(|| Error::NoSitePackages(path.to_path_buf()))?;
    Ok((dist::find(&site)?, minor))
}
