//! Name and symlink decoders of both profiles on arbitrary input.
#![no_main]
use fusecry_format::keys::Key32;
use fusecry_format::legacy::LegacyKeys;
use fusecry_format::name::{classify, DirIv};
use fusecry_format::{Codec, MasterKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let v1 = Codec::v1(&MasterKey::from_bytes([1; 32]), 4096, true);
    let legacy = Codec::legacy(LegacyKeys::new(Key32::from_bytes([1; 32])), 4096, true);
    let _ = v1.decrypt_symlink(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = classify(s);
        let _ = v1.decrypt_name(Some(&DirIv([3; 16])), s);
        let _ = legacy.decrypt_name(None, s);
    }
});
