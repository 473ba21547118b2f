//! Any bytes as an N-MNIST `.bin` file.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = snn_data::nmnist::parse(data, "fuzz");
});
