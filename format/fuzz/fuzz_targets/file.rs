//! Header, chunk, trailer and stream decoders of both profiles on arbitrary bytes.
#![no_main]
use fusecry_format::keys::Key32;
use fusecry_format::legacy::LegacyKeys;
use fusecry_format::{header, stream, Codec, FileId, MasterKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cs = 16 * (1 + data.first().copied().unwrap_or(0) as u64 % 8);
    let v1 = Codec::v1(&MasterKey::from_bytes([1; 32]), cs, true);
    let legacy = Codec::legacy(LegacyKeys::new(Key32::from_bytes([1; 32])), cs, true);
    for codec in [&v1, &legacy] {
        let _ = stream::decrypt_to_vec(codec, data);
        let _ = stream::verify(codec, &mut &data[..], &|_| {});
        let _ = codec.decrypt_chunk(&FileId([2; 16]), 3, data, data.len().saturating_sub(48));
        let _ = codec.decode_trailer(&FileId([2; 16]), data.len() as u64, data);
    }
    let _ = header::decode(data);
});
