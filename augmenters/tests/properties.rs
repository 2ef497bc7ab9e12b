//! Property tests (proptest): any image from 1x1 to 300x300 and any valid op value, no panic
//! and the right size; determinism; AugMix output in [0, 1] and equal to the plain
//! evaluation; `augment_batch` with an AugMix pipeline independent of the thread count; the
//! stylizers on any image from 1x1 to 64x64 with any partner size, and batches of them with
//! partners independent of the thread count and the batch order.
//! Case counts are modest so that the suite stays fast in debug builds.

mod support;

use advbn_augmenters::ops::{Op, OpParams};
use advbn_augmenters::{
    AugMix, Augment, HorizontalFlip, ImageSize, Pipeline, PixelStage, RandomCrop, Sample, SampleKey,
    augment_batch, mix_reference,
};
use image::RgbImage;
use proptest::prelude::*;
use support::{any_image, image_from};

fn any_op_params() -> impl Strategy<Value = OpParams> {
    (0..Op::ALL.len(), 0.0f64..=1.0).prop_map(|(i, t)| {
        let op = Op::ALL[i];
        let value = op.value_range().map(|r| {
            let v = r.min + t * (r.max - r.min);
            if r.integer { v.round() } else { v }
        });
        op.params(value).expect("a value inside the range")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn ops_never_panic_and_keep_the_size(img in any_image(), p in any_op_params()) {
        let out = p.apply(&img);
        prop_assert_eq!(out.dimensions(), img.dimensions());
        prop_assert_eq!(&p.apply(&img), &out);
    }

    #[test]
    fn augmix_never_panics_stays_in_range_and_matches_the_plain_evaluation(
        img in any_image(),
        seed in any::<u64>(),
        severity in 1u32..=10,
        all_ops in any::<bool>(),
    ) {
        let augmix = AugMix { severity, all_ops: Some(all_ops), ..AugMix::default() };
        let params = augmix.sample(&mut SampleKey::new(seed, 0, 0).rng(), ImageSize::of(&img));
        let out = augmix.apply(&img, &params);
        prop_assert_eq!(out.size(), ImageSize::of(&img));
        prop_assert!(out.as_slice().iter().all(|v| (-1e-6..=1.0 + 1e-6).contains(v)));
        prop_assert_eq!(&augmix.apply(&img, &params), &out);
        let plain = mix_reference(&img, &params);
        let diff = out.as_slice().iter().zip(plain.as_slice()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        prop_assert!(diff < 2e-6, "fast and plain AugMix differ by {}", diff);
    }
}

#[test]
fn augment_batch_with_augmix_is_independent_of_threads() {
    let pipeline = Pipeline::new(vec![
        PixelStage::RandomCrop(RandomCrop::default()),
        PixelStage::HorizontalFlip(HorizontalFlip::default()),
        PixelStage::Augmix(AugMix {
            all_ops: Some(true),
            ..AugMix::default()
        }),
    ])
    .unwrap();
    let images: Vec<RgbImage> = (0..24).map(|i| image_from(32, 32, i)).collect();
    let samples: Vec<Sample> = images
        .iter()
        .enumerate()
        .map(|(i, image)| Sample {
            index: 100 + i as u64,
            image,
        })
        .collect();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| augment_batch(&pipeline, &samples, 5, 2, 2))
    };
    let one = run(1);
    assert_eq!(one, run(3));
    assert_eq!(one, run(8));
    // And a different epoch gives different views (the streams are keyed by it).
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let other_epoch = pool.install(|| augment_batch(&pipeline, &samples, 5, 3, 2));
    assert_ne!(one, other_epoch);
}

// ---------------------------------------------------------------------------------------
// The stylizers: any image from 1x1 to 64x64, any partner size, any sampled params.

use advbn_augmenters::stylize::{self, Activation, ColorTransfer, FourierMix, RandConv, RandomNet};
use advbn_augmenters::{FloatImage, StageContext, augment_batch_with_partners};

fn small_image() -> impl Strategy<Value = RgbImage> {
    (1u32..=64, 1u32..=64, any::<u64>()).prop_map(|(w, h, seed)| image_from(w, h, seed))
}

fn check_float(out: &FloatImage, img: &RgbImage) -> Result<(), TestCaseError> {
    prop_assert_eq!(out.size(), ImageSize::of(img));
    prop_assert!(
        out.as_slice()
            .iter()
            .all(|v| v.is_finite() && (0.0..=1.0).contains(v))
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn stylizers_never_panic_and_stay_in_range(
        img in small_image(),
        partner in small_image(),
        seed in any::<u64>(),
        kernel in prop::sample::select(vec![1u32, 3, 5, 7, 15]),
        layers in 1u32..=4,
        leaky in any::<bool>(),
    ) {
        let size = ImageSize::of(&img);
        let rc = RandConv { kernel_sizes: vec![kernel], strength: [0.0, 1.0], ..RandConv::default() };
        let fm = FourierMix::default();
        let ct = ColorTransfer { strength: [0.0, 1.0], ..ColorTransfer::default() };
        let rn = RandomNet {
            layers,
            activation: if leaky { Activation::LeakyRelu } else { Activation::Tanh },
            ..RandomNet::default()
        };
        let ctx = StageContext::with_partner(&partner);
        let mut rng = SampleKey::new(seed, 0, 0).rng();
        let p = rc.sample(&mut rng, size);
        check_float(&rc.apply(&img, &p), &img)?;
        let p = fm.sample(&mut rng, size);
        check_float(&fm.apply(&img, &p), &img)?;
        check_float(&fm.apply_with(&img, &p, ctx), &img)?;
        let p = ct.sample(&mut rng, size);
        check_float(&ct.apply(&img, &p), &img)?;
        check_float(&ct.apply_with(&img, &p, ctx), &img)?;
        let p = rn.sample(&mut rng, size);
        let out = rn.apply(&img, &p);
        check_float(&out, &img)?;
        prop_assert_eq!(&rn.apply(&img, &p), &out);
    }
}

/// Every stylizer in one pipeline, partners drawn per sample with `partner_index`: the batch
/// output does not depend on the thread count or the batch order.
#[test]
fn augment_batch_with_stylizers_is_independent_of_threads_and_order() {
    let mut stages = vec![PixelStage::RandomCrop(RandomCrop::default())];
    stages.extend(stylize::default_stages().into_iter().map(|(_, s)| s));
    let all = Pipeline::new(stages).unwrap();
    let images: Vec<RgbImage> = (0..16).map(|i| image_from(32, 32, i + 1)).collect();
    let samples: Vec<Sample> = images
        .iter()
        .enumerate()
        .map(|(i, image)| Sample {
            index: i as u64,
            image,
        })
        .collect();
    let partner = |key: SampleKey| {
        key.partner_index(images.len() as u64)
            .map(|j| &images[j as usize])
    };
    let mut pipelines: Vec<Pipeline> = stylize::default_stages()
        .into_iter()
        .map(|(_, s)| Pipeline::new(vec![s]).unwrap())
        .collect();
    pipelines.push(all);
    for pipeline in &pipelines {
        let run = |threads: usize, samples: &[Sample]| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| augment_batch_with_partners(pipeline, samples, 5, 1, 2, partner))
        };
        let one = run(1, &samples);
        assert_eq!(one, run(4, &samples), "{:?}", pipeline.stages());
        let mut reversed = samples.clone();
        reversed.reverse();
        let mut back = run(4, &reversed);
        back.reverse();
        assert_eq!(one, back, "batch order changed the result");
        // The context-free batch is the same as giving no partner.
        let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
        let plain = pool.install(|| augment_batch(pipeline, &samples, 5, 1, 2));
        let no_partner = pool.install(|| augment_batch_with_partners(pipeline, &samples, 5, 1, 2, |_| None));
        assert_eq!(plain, no_partner);
        if pipeline.needs_partner() {
            assert_ne!(plain, one, "partners made no difference");
        } else {
            assert_eq!(
                plain, one,
                "a pipeline without partner stages changed with partners"
            );
        }
    }
}
