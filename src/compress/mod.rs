//! The bundle's compression: one gzip member compressed in parallel, zstd (multi-threaded), or
//! a plain tar. Output depends only on the bytes and the level, never on the number of threads.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::path::Path;
use std::sync::mpsc;

/// The archive format, from `--format` or the output's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[value(name = "tar.gz")]
    TarGz,
    #[value(name = "tar.zst")]
    TarZst,
    /// What embedded update tools (SWUpdate, Yocto, Mender) expect.
    #[value(name = "tar.xz")]
    TarXz,
    #[value(name = "tar")]
    Tar,
}

impl Format {
    /// `.tar.gz`/`.tgz`, `.tar.zst`/`.tzst`, `.tar`; `None` for any other name.
    pub fn from_name(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        [
            (".tar.gz", Format::TarGz),
            (".tgz", Format::TarGz),
            (".tar.zst", Format::TarZst),
            (".tzst", Format::TarZst),
            (".tar.xz", Format::TarXz),
            (".txz", Format::TarXz),
            (".tar", Format::Tar),
        ]
        .into_iter()
        .find(|(ext, _)| name.ends_with(ext))
        .map(|(_, f)| f)
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::TarGz => "tar.gz",
            Format::TarZst => "tar.zst",
            Format::TarXz => "tar.xz",
            Format::Tar => "tar",
        }
    }

    pub fn default_level(self) -> u32 {
        match self {
            Format::TarGz => 6,
            Format::TarZst => 3,
            Format::TarXz => 6,
            Format::Tar => 0,
        }
    }

    pub fn levels(self) -> std::ops::RangeInclusive<u32> {
        match self {
            Format::TarGz => 1..=9,
            Format::TarZst => 1..=19,
            Format::TarXz => 0..=9,
            Format::Tar => 0..=0,
        }
    }
}

/// Uncompressed bytes per gzip block. Each block is compressed on its own with the previous
/// 32 KiB as its dictionary (as pigz does), so the ratio stays close to one stream's.
const BLOCK: usize = 1 << 20;
const WINDOW: usize = 32 * 1024;

/// Bytes per zstd job (one worker compresses one job at a time). Measured on the benchmark's
/// 2 GB venv against zstd's default (8 MiB jobs): 3 MiB jobs with half a window of overlap
/// keep the output smaller than `zstd -T0 -3`'s at 58 MiB peak instead of 87 MiB; 2 MiB jobs
/// were 0.3% larger than it.
const ZSTD_JOB: u32 = 3 << 20;

/// Uncompressed bytes per xz block.
const XZ_BLOCK: u64 = 8 << 20;
const ZSTD_OVERLAP: u32 = 7;

struct Compressed {
    bytes: Vec<u8>,
    crc: crc32fast::Hasher,
}

fn deflate_block(
    input: &[u8],
    dictionary: &[u8],
    level: u32,
    last: bool,
) -> io::Result<Compressed> {
    use flate2::{Compress, Compression, FlushCompress, Status};
    let mut c = Compress::new(Compression::new(level), false);
    if !dictionary.is_empty() {
        c.set_dictionary(dictionary).map_err(io::Error::other)?;
    }
    // A sync flush ends the block on a byte boundary with no final bit, so blocks concatenate
    // into one deflate stream; only the last one finishes it.
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(input.len() / 2 + 1024);
    loop {
        let consumed = c.total_in() as usize;
        let status = c
            .compress_vec(&input[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        let done_input = c.total_in() as usize == input.len();
        match status {
            Status::StreamEnd => break,
            _ if !last && done_input && out.len() < out.capacity() => break,
            _ => out.reserve(out.capacity().max(64 * 1024)),
        }
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(input);
    Ok(Compressed { bytes: out, crc })
}

/// A gzip writer that compresses blocks on `jobs` threads and writes them in order: one
/// standard gzip member that `gzip -d`, GNU tar, bsdtar and Python read. At most `2 × jobs`
/// blocks are in flight, so memory stays bounded.
pub struct ParallelGz<W: Write> {
    inner: W,
    level: u32,
    pool: rayon::ThreadPool,
    block: Vec<u8>,
    /// The end of the previous block: the next block's dictionary.
    window: Vec<u8>,
    pending: VecDeque<mpsc::Receiver<io::Result<Compressed>>>,
    max_pending: usize,
    crc: crc32fast::Hasher,
    size: u64,
}

impl<W: Write> ParallelGz<W> {
    pub fn new(mut inner: W, level: u32, jobs: usize) -> io::Result<Self> {
        // No name, no time (0), "unix" as the OS: the header is the same for every bundle.
        inner.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3])?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs.max(1))
            .thread_name(|i| format!("rvenv-gzip-{i}"))
            .build()
            .map_err(io::Error::other)?;
        Ok(ParallelGz {
            inner,
            level,
            pool,
            block: Vec::with_capacity(BLOCK),
            window: Vec::new(),
            pending: VecDeque::new(),
            max_pending: 2 * jobs.max(1),
            crc: crc32fast::Hasher::new(),
            size: 0,
        })
    }

    fn collect_one(&mut self) -> io::Result<()> {
        if let Some(rx) = self.pending.pop_front() {
            let done = rx
                .recv()
                .map_err(|_| io::Error::other("a compression thread stopped"))??;
            self.inner.write_all(&done.bytes)?;
            self.crc.combine(&done.crc);
        }
        Ok(())
    }

    fn submit(&mut self, last: bool) -> io::Result<()> {
        let input = std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK));
        let dictionary = std::mem::take(&mut self.window);
        self.window = input[input.len().saturating_sub(WINDOW)..].to_vec();
        if self.window.len() < WINDOW && !dictionary.is_empty() {
            // A short block: keep the end of the one before it too.
            let need = WINDOW - self.window.len();
            let mut w = dictionary[dictionary.len().saturating_sub(need)..].to_vec();
            w.extend_from_slice(&self.window);
            self.window = w;
        }
        self.size += input.len() as u64;
        let (tx, rx) = mpsc::sync_channel(1);
        let level = self.level;
        self.pool.spawn(move || {
            let _ = tx.send(deflate_block(&input, &dictionary, level, last));
        });
        self.pending.push_back(rx);
        while self.pending.len() > self.max_pending {
            self.collect_one()?;
        }
        Ok(())
    }

    /// Compresses what is left, writes the trailer, and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.submit(true)?;
        while !self.pending.is_empty() {
            self.collect_one()?;
        }
        let crc = self.crc.clone().finalize();
        self.inner.write_all(&crc.to_le_bytes())?;
        self.inner.write_all(&(self.size as u32).to_le_bytes())?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ParallelGz<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = BLOCK - self.block.len();
        let n = room.min(buf.len());
        self.block.extend_from_slice(&buf[..n]);
        if self.block.len() == BLOCK {
            self.submit(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The compressed stream the tar is written into.
pub enum Sink<W: Write> {
    Gz(ParallelGz<W>),
    Zst(zstd::Encoder<'static, W>),
    Xz(liblzma::write::XzEncoder<W>),
    Tar(W),
}

impl<W: Write> Sink<W> {
    pub fn new(inner: W, format: Format, level: u32, jobs: usize) -> io::Result<Sink<W>> {
        Ok(match format {
            Format::TarGz => Sink::Gz(ParallelGz::new(inner, level, jobs)?),
            Format::TarZst => {
                let mut z = zstd::Encoder::new(inner, level as i32)?;
                // zstd's output is the same for any number of workers ≥ 1 (not for 0), so
                // even -j1 uses one worker thread. With several, one more worker than jobs:
                // libzstd hands out the next job only when the writer stops waiting for the
                // oldest one, so a worker that finished early would idle meanwhile (measured on
                // the 2 GB benchmark venv, 2 cores: 8.6 s with 2 workers, 7.7 s with 3).
                let workers = if jobs > 1 { jobs + 1 } else { 1 };
                z.multithread(workers as u32)?;
                // Smaller jobs than zstd's default (4 windows) keep each worker's buffers, and
                // so peak memory, small; the ratio barely changes.
                z.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB))?;
                z.set_parameter(zstd::stream::raw::CParameter::OverlapSizeLog(ZSTD_OVERLAP))?;
                z.include_checksum(true)?;
                Sink::Zst(z)
            }
            Format::TarXz => {
                // Blocks of a fixed size are compressed on their own, so the output is the same
                // for any number of threads (xz -T's blocks are 3 dictionaries; this is 8 MiB,
                // for peak memory on a board-sized build machine).
                let stream = liblzma::stream::MtStreamBuilder::new()
                    .threads(jobs.max(1) as u32)
                    .block_size(XZ_BLOCK)
                    .preset(level)
                    .check(liblzma::stream::Check::Crc64)
                    .encoder()
                    .map_err(io::Error::other)?;
                Sink::Xz(liblzma::write::XzEncoder::new_stream(inner, stream))
            }
            Format::Tar => Sink::Tar(inner),
        })
    }

    pub fn finish(self) -> io::Result<W> {
        match self {
            Sink::Gz(g) => g.finish(),
            Sink::Zst(z) => z.finish(),
            Sink::Xz(x) => x.finish(),
            Sink::Tar(mut w) => {
                w.flush()?;
                Ok(w)
            }
        }
    }
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Gz(g) => g.write(buf),
            Sink::Zst(z) => z.write(buf),
            Sink::Xz(x) => x.write(buf),
            Sink::Tar(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Gz(g) => g.flush(),
            Sink::Zst(z) => z.flush(),
            Sink::Xz(x) => x.flush(),
            Sink::Tar(w) => w.flush(),
        }
    }
}

/// How the tar stream is compressed.
#[derive(Debug, Clone)]
pub struct Settings {
    pub format: Format,
    pub level: u32,
    pub jobs: usize,
}

/// Reads a tarball whatever its compression, told by its first bytes: gzip (any number of
/// members), zstd or none. Also says which, for messages ("gzip-compressed ", "zstd-compressed ",
/// "").
pub fn decoder<R: io::BufRead + 'static>(
    mut reader: R,
) -> io::Result<(Box<dyn io::Read>, &'static str)> {
    let head = reader.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok((
            Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
            "gzip-compressed ",
        ))
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Ok((
            Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(reader)),
            "xz-compressed ",
        ))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok((
            Box::new(zstd::Decoder::with_buffer(reader)?),
            "zstd-compressed ",
        ))
    } else {
        Ok((Box::new(reader), ""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Text and binary-ish data, several blocks long, with a short tail.
    fn sample() -> Vec<u8> {
        let mut data = Vec::new();
        let mut x: u32 = 12345;
        while data.len() < 3 * BLOCK + 777 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            if x.is_multiple_of(3) {
                data.extend_from_slice(b"def function_name(argument):\n    return argument * 2\n");
            } else {
                data.extend_from_slice(&x.to_le_bytes());
            }
        }
        data
    }

    fn gz(data: &[u8], level: u32, jobs: usize, chunk: usize) -> Vec<u8> {
        let mut w = ParallelGz::new(Vec::new(), level, jobs).unwrap();
        for c in data.chunks(chunk) {
            w.write_all(c).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn one_gzip_member_that_decodes_the_same_for_any_thread_count() {
        let data = sample();
        let one = gz(&data, 6, 1, 4096);
        for (jobs, chunk) in [(2, 1000), (3, 1 << 20), (8, 77)] {
            assert!(
                one == gz(&data, 6, jobs, chunk),
                "jobs {jobs} chunk {chunk}"
            );
        }
        // flate2's single-member reader (which stops at the end of the first member) gets it all.
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&one[..])
            .read_to_end(&mut out)
            .unwrap();
        assert!(out == data);
        // Close to a single-stream compressor's size.
        let mut single = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        single.write_all(&data).unwrap();
        let single = single.finish().unwrap();
        assert!(
            one.len() as f64 <= single.len() as f64 * 1.02,
            "{} vs {}",
            one.len(),
            single.len()
        );
    }

    #[test]
    fn empty_and_exact_block_inputs() {
        for data in [Vec::new(), vec![7u8; BLOCK], vec![1u8; 2 * BLOCK]] {
            let z = gz(&data, 1, 2, 65536);
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&z[..])
                .read_to_end(&mut out)
                .unwrap();
            assert!(out == data, "{} bytes", data.len());
        }
    }

    #[test]
    fn zstd_does_not_depend_on_jobs() {
        let data = sample();
        let enc = |jobs| {
            let mut s = Sink::new(Vec::new(), Format::TarZst, 3, jobs).unwrap();
            s.write_all(&data).unwrap();
            s.finish().unwrap()
        };
        let one = enc(1);
        assert!(one == enc(2) && one == enc(4));
        assert!(zstd::decode_all(&one[..]).unwrap() == data);
    }

    #[test]
    fn formats_from_names() {
        for (name, f) in [
            ("a.tar.gz", Some(Format::TarGz)),
            ("A.TGZ", Some(Format::TarGz)),
            ("a.tar.zst", Some(Format::TarZst)),
            ("a.tar", Some(Format::Tar)),
            ("a.zip", None),
            ("a.gz", None),
        ] {
            assert_eq!(Format::from_name(Path::new(name)), f, "{name}");
        }
    }
}
