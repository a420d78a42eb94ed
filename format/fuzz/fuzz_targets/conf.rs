//! Conf and key-slot decoders must return errors, never panic.
#![no_main]
use fusecry_format::{Conf, KeySlot, Password, Secret};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(conf) = Conf::parse(data) {
        // Only cheap opens: skip confs whose KDF would take long.
        let cheap = match &conf {
            Conf::V1(c) => c.slots.iter().all(|s| match s {
                KeySlot::Password { m_cost_kib, t_cost, .. } => *m_cost_kib <= 256 && *t_cost <= 2,
                _ => true,
            }),
            Conf::Legacy(_) => false,
        };
        if cheap {
            let _ = conf.open(&Secret::Password(Password::new("fuzz")));
        }
    }
    let _ = serde_json::from_slice::<KeySlot>(data).map(|s| s.validate());
});
