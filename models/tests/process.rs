//! The process-wide tuning helpers. One test in this binary: setting the environment is only
//! sound while no other thread uses it.

#[test]
fn spin_limit_is_set_unless_the_user_chose_one() {
    const VAR: &str = "CANDLE_BARRIER_POOL_SPIN_LIMIT";
    // SAFETY: the only test of this binary; no other thread reads or writes the environment.
    unsafe {
        std::env::remove_var(VAR);
        realnvp_models::limit_candle_spinning();
    }
    let ours: u32 = std::env::var(VAR).unwrap().parse().unwrap();
    assert!(ours < 25_000, "the limit must be below candle's default");
    // SAFETY: as above.
    unsafe {
        std::env::set_var(VAR, "7");
        realnvp_models::limit_candle_spinning();
    }
    assert_eq!(
        std::env::var(VAR).unwrap(),
        "7",
        "an explicit choice must win"
    );
}
