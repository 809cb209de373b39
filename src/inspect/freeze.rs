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
        Layout::Venv => {
            let venv = venv::Venv::discover(path)?;
            Ok((dist::find(&venv.site_packages())?, venv.version.minor))
        }
        Layout::Bundle => {
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
