//! AEDAT 3.1 parsing throughput (`cargo bench -p snn-data --bench aedat3`): a 40 MB in-memory
//! recording (5 M polarity events in packets of 4096), read through the streaming reader.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use snn_data::aedat3::{self, ReadOptions, Reader};
use snn_data::Event;

fn recording() -> Vec<u8> {
    let events: Vec<Event> = (0..5_000_000u64)
        .map(|i| Event {
            t: i / 3,
            x: (i * 7 % 128) as u16,
            y: (i * 13 % 128) as u16,
            on: i % 2 == 0,
        })
        .collect();
    let mut bytes = Vec::new();
    aedat3::write(&mut bytes, &events, "DVS128", 4096).unwrap();
    bytes
}

fn parse(c: &mut Criterion) {
    let bytes = recording();
    let mut group = c.benchmark_group("aedat3");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.sample_size(20);
    group.bench_function("read_all", |b| {
        b.iter(|| {
            Reader::new(&bytes[..], "bench", ReadOptions::default())
                .unwrap()
                .read_all()
                .unwrap()
                .len()
        })
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
