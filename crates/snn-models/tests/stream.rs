//! Streaming inference equals whole-sequence inference, carries state across calls, and
//! refuses networks whose attention needs the whole sequence.

use burn::backend::Flex;
use burn::tensor::{Distribution, Tensor};
use ma_attention::AttentionKind;
use snn_models::stream::{StreamError, StreamingEventNet};
use snn_models::{EventNetConfig, Mode};

type B = Flex;

use snn_testkit::{max_abs_diff_f32 as max_abs_diff, seeded};

#[test]
fn streaming_step_by_step_equals_the_whole_sequence() {
    let _rng = seeded::<B>(1);
    let device = Default::default();
    let net = EventNetConfig::tiny(6, AttentionKind::None)
        .init::<B>(&device)
        .unwrap();
    for _ in 0..3 {
        let x = Tensor::<B, 5>::random([6, 4, 2, 8, 8], Distribution::Uniform(0.0, 2.0), &device);
        let _ = net.forward(x, Mode::Train);
    }
    let frames = Tensor::<B, 5>::random([6, 2, 2, 8, 8], Distribution::Uniform(0.0, 3.0), &device);
    let whole: Vec<f32> = net
        .forward(frames.clone(), Mode::Eval)
        .rates
        .into_data()
        .to_vec()
        .unwrap();
    assert!(whole.iter().any(|&r| r > 0.0), "the network must spike");

    let mut stream = StreamingEventNet::new(&net).unwrap();
    assert!(stream.rates().is_none());
    for _round in 0..2 {
        for t in 0..6 {
            let frame: Tensor<B, 4> = frames.clone().slice(t..t + 1).squeeze_dim(0);
            let spikes = stream.step(frame).unwrap();
            assert_eq!(spikes.dims(), [2, 3]);
        }
        let streamed: Vec<f32> = stream.rates().unwrap().into_data().to_vec().unwrap();
        assert_eq!(stream.steps(), 6);
        let worst = max_abs_diff(&whole, &streamed);
        assert!(worst <= 1e-6, "streamed rates differ by {worst}");
        // After a reset the same sequence gives the same result again.
        stream.reset();
    }

    // A different batch size mid-stream is an error, and the stream starts over.
    let one = Tensor::<B, 4>::zeros([2, 2, 8, 8], &device);
    stream.step(one).unwrap();
    let err = stream
        .step(Tensor::<B, 4>::zeros([3, 2, 8, 8], &device))
        .unwrap_err();
    assert!(matches!(err, StreamError::Shape(_)), "{err}");
    assert!(err.to_string().contains("streaming"), "{err}");
    assert_eq!(stream.steps(), 0);
}

#[test]
fn attention_cannot_stream_and_the_error_lists_the_layers() {
    let _rng = seeded::<B>(2);
    let net = EventNetConfig::tiny(6, AttentionKind::Tcsa)
        .init::<B>(&Default::default())
        .unwrap();
    let err = StreamingEventNet::new(&net).unwrap_err();
    let StreamError::Attention { layers } = &err else {
        panic!("{err}");
    };
    assert_eq!(layers.len(), 4, "{layers:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("conv0 (TCSA)") && msg.contains("conv1 (TCSA)"),
        "{msg}"
    );
    assert!(
        msg.contains("fc0 (TA)") && msg.contains("fc1 (TA)"),
        "{msg}"
    );
}
