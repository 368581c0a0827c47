//! `calibration.json`: `realnvp_bundle::Calibration::parse` on any text; what it accepts keeps the file's
//! invariants and reads back the same after writing.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use realnvp_bundle::Calibration;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("calibration.json");
    if let Ok(cal) = Calibration::parse(file, text) {
        assert!(cal.false_positive_rate > 0.0 && cal.false_positive_rate < 1.0);
        assert!(cal.threshold.is_finite() && cal.items > 0);
        assert!((0.0..=1.0).contains(&cal.fitted_rate));
        let again = serde_json::to_string(&cal).expect("serializes");
        assert_eq!(Calibration::parse(file, &again).expect("re-reading"), cal);
    }
});
