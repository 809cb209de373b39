//! `rvenv image` (issue 20): an OCI image for the board built without a container engine,
//! validated with real tools from the Debian archive (skopeo, umoci), unpacked, and its entry
//! point run from the image's own root filesystem under qemu-user (in a chroot as root, as
//! the user the image names, with no shell in the image).

use crate::board::{expect_line, ok};
use crate::common::*;
use std::path::Path;
use std::process::{Command, Output};

/// The demo wheel (a console script) pinned in requirements.txt, in a folder of its own.
fn demo_project(dir: &Path) {
    let wheels = dir.join("wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    let demo = demo_wheel();
    std::fs::copy(&demo, wheels.join(demo.file_name().unwrap())).unwrap();
    std::fs::write(dir.join("requirements.txt"), "rvenv-demo==1.0\n").unwrap();
}

fn image_args<'a>(output: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "image",
        "--target",
        "debian-12-armv7",
        "-r",
        "requirements.txt",
        "-f",
        "wheels",
        "--no-index",
        "-o",
        output,
        "--tag",
        "demo:1.0",
    ];
    args.extend_from_slice(extra);
    args
}

fn sha256(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

fn inspect(reference: &str) -> serde_json::Value {
    let out = ok(
        run(Command::new("skopeo").args(["inspect", "--raw", reference])),
        "skopeo inspect --raw",
    );
    serde_json::from_str(&out).unwrap()
}

fn inspect_config(reference: &str) -> serde_json::Value {
    let out = ok(
        run(Command::new("skopeo").args(["inspect", "--config", reference])),
        "skopeo inspect --config",
    );
    serde_json::from_str(&out).unwrap()
}

#[test]
fn an_armv7_image_unpacks_with_umoci_and_its_entry_point_runs_in_its_own_root() {
    let s = scratch();
    demo_project(s.path());
    let out = rvenv_cached(
        s.path(),
        &image_args("app.oci.tar", &["--entrypoint", "rvenv-demo"]),
    );
    let err = stderr(&out);
    ok(out, "rvenv image");
    assert!(err.contains("wrote app.oci.tar"), "{err}");
    assert!(
        err.contains("debian-12-armv7: libc.so.6 from libc6"),
        "{err}"
    );

    let reference = format!("oci-archive:{}", s.path().join("app.oci.tar").display());
    let config = inspect_config(&reference);
    assert_eq!(config["architecture"], "arm");
    assert_eq!(config["variant"], "v7");
    assert_eq!(config["os"], "linux");
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/opt/app/bin/python3", "/opt/app/bin/rvenv-demo"])
    );
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    let manifest = inspect(&reference);
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 2);

    // umoci unpacks it as a runtime would.
    let layout = s.path().join("layout");
    std::fs::create_dir(&layout).unwrap();
    run_ok(
        Command::new("tar")
            .arg("-xf")
            .arg(s.path().join("app.oci.tar"))
            .arg("-C")
            .arg(&layout),
    );
    let bundle = s.path().join("unpacked");
    run_ok(
        Command::new("umoci")
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:1.0", layout.display()))
            .arg(&bundle),
    );
    let rootfs = bundle.join("rootfs");
    // No shell, no Python of the system: the release's libraries and the bundle.
    for absent in [
        "bin/sh",
        "usr/bin/sh",
        "usr/bin/python3",
        "usr/lib/python3.11",
    ] {
        assert!(
            rootfs.join(absent).symlink_metadata().is_err(),
            "{absent} is in the image"
        );
    }
    assert!(rootfs.join("lib/ld-linux-armhf.so.3").exists());
    let certs = std::fs::read_to_string(rootfs.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
    assert!(certs.matches("BEGIN CERTIFICATE").count() > 100);
    assert!(rootfs.join("usr/share/zoneinfo/Europe/Berlin").exists());
    let sbom: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(rootfs.join("opt/app/sbom.spdx.json")).unwrap(),
    )
    .unwrap();
    let names: Vec<&str> = sbom["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for n in ["libc6", "ca-certificates", "tzdata", "rvenv-demo"] {
        assert!(names.contains(&n), "{n} not in the SBOM: {names:?}");
    }

    // The entry point, from the image's root: under qemu with the image as its library root.
    let qemu = "qemu-arm-static";
    let prefix = rootfs.join("opt/app");
    let out = ok(
        run(Command::new(qemu)
            .arg("-L")
            .arg(&rootfs)
            .arg(prefix.join("bin/python3"))
            .arg(prefix.join("bin/rvenv-demo"))),
        "the entry point under qemu",
    );
    expect_line(&out, &format!("rvenv-demo ok {}", prefix.display()));
    if is_root() {
        // In a chroot, as the image's user, the way a runtime starts it.
        let out = ok(
            run(Command::new(which::which("chroot").unwrap())
                .arg("--userspec=65532:65532")
                .arg(&rootfs)
                .args(["/opt/app/bin/python3", "/opt/app/bin/rvenv-demo"])
                .env_clear()
                .env("PATH", "/opt/app/bin:/usr/bin:/bin")),
            "the entry point in a chroot of the image",
        );
        expect_line(&out, "rvenv-demo ok /opt/app");
    }
}

#[test]
fn two_builds_are_the_same_image_and_an_app_change_changes_only_the_app_layer() {
    let s = scratch();
    demo_project(s.path());
    ok(
        rvenv_cached(s.path(), &image_args("one.oci.tar", &[])),
        "first image",
    );
    ok(
        rvenv_cached(s.path(), &image_args("two.oci.tar", &[])),
        "second image",
    );
    assert_eq!(
        sha256(&s.path().join("one.oci.tar")),
        sha256(&s.path().join("two.oci.tar"))
    );
    ok(
        rvenv_cached(s.path(), &image_args("three.oci.tar", &["--compile"])),
        "an image of a changed app",
    );
    let layers = |f: &str| -> Vec<String> {
        inspect(&format!("oci-archive:{}", s.path().join(f).display()))["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_string())
            .collect()
    };
    let (one, three) = (layers("one.oci.tar"), layers("three.oci.tar"));
    assert_eq!(one[0], three[0], "the base layer changed");
    assert_ne!(one[1], three[1], "the app layer did not change");

    // The other formats: an OCI layout folder, and docker-archive.
    ok(
        rvenv_cached(s.path(), &image_args("layout", &["--format", "oci-layout"])),
        "oci-layout",
    );
    let config = inspect_config(&format!("oci:{}:1.0", s.path().join("layout").display()));
    assert_eq!(config["architecture"], "arm");
    ok(
        rvenv_cached(
            s.path(),
            &image_args("docker.tar", &["--format", "docker-archive"]),
        ),
        "docker-archive",
    );
    let config = inspect_config(&format!(
        "docker-archive:{}",
        s.path().join("docker.tar").display()
    ));
    assert_eq!(config["architecture"], "arm");
    assert_eq!(
        inspect(&format!(
            "oci-archive:{}",
            s.path().join("one.oci.tar").display()
        ))["layers"][0]["digest"],
        serde_json::Value::String(one[0].clone())
    );
}

/// Exit 2, one `error:`, one `hint:`, nothing written.
fn refused(out: Output, dir: &Path, output: &str, wanted: &str, hint: &str) {
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("error: {wanted}")), "{err}");
    let hints: Vec<&str> = err.lines().filter(|l| l.starts_with("hint: ")).collect();
    assert_eq!(hints.len(), 1, "{err}");
    assert!(hints[0].contains(hint), "{err}");
    assert!(!dir.join(output).exists(), "{output} was written");
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".rvenv-image-"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn bad_input_is_refused_and_leaves_nothing() {
    let s = scratch();
    demo_project(s.path());
    refused(
        rvenv_cached(
            s.path(),
            &image_args("app.oci.tar", &["--entrypoint", "nope"]),
        ),
        s.path(),
        "app.oci.tar",
        "--entrypoint nope: the bundle has no bin/nope; its bin/ has ",
        "console scripts",
    );
    refused(
        rvenv_cached(
            s.path(),
            &[
                "image",
                "--target",
                "armv7",
                "-r",
                "requirements.txt",
                "-f",
                "wheels",
                "--no-index",
                "-o",
                "app.oci.tar",
            ],
        ),
        s.path(),
        "app.oci.tar",
        "--target armv7: a plain architecture names no distribution",
        "preset",
    );
    // A folder that is not an image layout is never replaced.
    let precious = s.path().join("precious");
    std::fs::create_dir(&precious).unwrap();
    std::fs::write(precious.join("notes.txt"), "keep me").unwrap();
    let out = rvenv_cached(
        s.path(),
        &image_args("precious", &["--format", "oci-layout"]),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("precious: a folder that is not an OCI image layout"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(precious.join("notes.txt")).unwrap(),
        "keep me"
    );
    refused(
        rvenv_cached(s.path(), &image_args("missing/app.oci.tar", &[])),
        s.path(),
        "missing",
        "missing: the output's directory does not exist",
        "create the directory first",
    );
}

#[test]
fn several_targets_give_one_multi_platform_image() {
    let s = scratch();
    demo_project(s.path());
    let out = rvenv_cached(
        s.path(),
        &[
            "image",
            "--target",
            "debian-12-armv7",
            "--target",
            "rpios-bookworm-aarch64",
            "-r",
            "requirements.txt",
            "-f",
            "wheels",
            "--no-index",
            "-o",
            "fleet.oci.tar",
            "--tag",
            "demo:1.0",
        ],
    );
    let err = stderr(&out);
    ok(out, "rvenv image with two targets");
    assert!(err.contains("2 platform(s)"), "{err}");
    let reference = format!("oci-archive:{}", s.path().join("fleet.oci.tar").display());
    let index = inspect(&reference);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let platforms: Vec<(String, String)> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["platform"]["architecture"].as_str().unwrap().to_string(),
                m["platform"]["variant"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        platforms,
        [
            ("arm".to_string(), "v7".to_string()),
            ("arm64".into(), "v8".into())
        ]
    );
    // A client picks its platform's image from the index.
    for (arch, variant) in [("arm", "v7"), ("arm64", "v8")] {
        let out = ok(
            run(Command::new("skopeo").args([
                "--override-arch",
                arch,
                "--override-variant",
                variant,
                "inspect",
                "--config",
                &reference,
            ])),
            "skopeo inspect of one platform",
        );
        let config: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(config["architecture"], arch);
    }
}

/// Every path in the layers of an OCI layout folder (the layers are tar or gzip'd tar blobs).
fn layer_paths(layout: &Path) -> Vec<String> {
    let mut paths = Vec::new();
    for blob in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let blob = blob.unwrap().path();
        let listing = run(Command::new("tar").arg("-tf").arg(&blob));
        if listing.status.success() {
            paths.extend(stdout(&listing).lines().map(str::to_string));
        }
    }
    paths
}

#[test]
fn slim_and_allow_reach_the_image_bundle() {
    let s = scratch();
    demo_project(s.path());
    let build = |output: &str, extra: &[&str]| {
        let mut args = image_args(output, &["--format", "oci-layout"]);
        args.extend_from_slice(extra);
        let out = rvenv_cached(s.path(), &args);
        let err = stderr(&out);
        ok(out, "rvenv image");
        (err, layer_paths(&s.path().join(output)))
    };
    let (_, plain) = build("plain", &[]);
    let (err, slim) = build(
        "slim",
        &["--slim", "--allow", "**/no-such-library*.so:glibc"],
    );
    // --slim's own lines are printed, and what they name is gone from the layer: Debian's
    // stdlib keeps its tests and IDLE in other packages, so here that is Tk's one module.
    assert!(
        err.contains("--slim: left out Tk (tkinter, turtle, turtledemo, _tkinter): 1 file"),
        "{err}"
    );
    assert!(err.contains("--strip-tests: "), "{err}");
    let gone: Vec<&String> = plain.iter().filter(|p| !slim.contains(p)).collect();
    assert!(!gone.is_empty());
    assert!(
        gone.iter()
            .all(|p| p.contains("tkinter") || p.contains("turtle")),
        "{gone:?}"
    );
    assert!(slim.iter().all(|p| plain.contains(p)));
    assert!(
        slim.iter()
            .any(|p| p == "opt/app/python/lib/python3.11/os.py")
    );
    assert!(slim.iter().any(|p| p == "opt/app/bin/rvenv-demo"));
    // A bad --allow is refused before anything is built.
    let out = rvenv_cached(
        s.path(),
        &image_args("bad.oci.tar", &["--allow", "lib/*.so:no-such-kind"]),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no-such-kind"), "{}", stderr(&out));
    assert!(!s.path().join("bad.oci.tar").exists());
}
