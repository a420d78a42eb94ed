//! For the randomized tests: seeds that can be replayed, and call results
//! comparable between the mount and a plain directory.

use rand::Rng;

/// The seed in environment variable `var`, or a fresh random one.
pub fn seed(var: &str) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen())
}

/// What an operation returned, comparable across the two trees.
#[derive(Debug, PartialEq)]
pub enum Out {
    Ok,
    Data(Vec<u8>),
    Err(Option<i32>),
}

pub fn out<T>(r: std::io::Result<T>) -> Out {
    match r {
        Ok(_) => Out::Ok,
        Err(e) => Out::Err(e.raw_os_error()),
    }
}

/// `o` for a failure message: data as its length and a hash prefix.
pub fn short(o: &Out) -> String {
    use sha2::Digest;
    match o {
        Out::Data(d) => format!(
            "Data({} bytes, sha {:02x?})",
            d.len(),
            &sha2::Sha256::digest(d)[..4]
        ),
        other => format!("{other:?}"),
    }
}
