//! Trainer checkpoints (safetensors with a JSON state and config): `realnvp_trainer::checkpoint::from_bytes`.
#![no_main]

use std::path::Path;

use candle_core::Device;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ck) =
        realnvp_trainer::checkpoint::from_bytes(data, Path::new("fuzz.safetensors"), &Device::Cpu)
    {
        for t in ck.tensors.values() {
            let values = t
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .expect("an f32 tensor");
            assert_eq!(values.len(), t.elem_count());
            assert!(values.iter().all(|v| v.is_finite()));
        }
    }
});
