//! The fuzz targets' bodies on stable Rust: over the checked-in corpus (`fuzz/seeds/*`, which
//! `scripts/fuzz.sh` also starts from) and 10,000 generated inputs each, from a fixed seed so that a
//! failure reproduces. A panic is the failure.

use rand::{rngs::StdRng, Rng, SeedableRng};
use srwan_relay::fuzzing;
use std::path::Path;

fn corpus(target: &str) -> Vec<Vec<u8>> {
	let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds").join(target);
	let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
		.unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
		.map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
		.collect();
	inputs.sort();
	assert!(inputs.len() >= 10, "the corpus of {target} is checked in");
	inputs
}

/// `count` inputs: random lengths and bytes, and mutations of the corpus.
fn generated(seeds: &[Vec<u8>], count: usize, seed: u64) -> Vec<Vec<u8>> {
	let mut rng = StdRng::seed_from_u64(seed);
	(0..count)
		.map(|i| {
			if i % 2 == 0 {
				let len = rng.gen_range(0..400);
				(0..len).map(|_| rng.gen()).collect()
			} else {
				let mut input = seeds[rng.gen_range(0..seeds.len())].clone();
				for _ in 0..rng.gen_range(1..8) {
					match rng.gen_range(0..3) {
						0 if !input.is_empty() => {
							let at = rng.gen_range(0..input.len());
							input[at] ^= 1 << rng.gen_range(0..8);
						}
						1 => input.truncate(rng.gen_range(0..=input.len())),
						_ => input.extend((0..rng.gen_range(1..40)).map(|_| rng.gen::<u8>())),
					}
				}
				input
			}
		})
		.collect()
}

#[test]
fn every_decoder_survives_the_corpus_and_10_000_generated_inputs() {
	let seeds = corpus("parse");
	for input in seeds.iter().chain(&generated(&seeds, 10_000, 1)) {
		fuzzing::parse(input);
	}
}

#[test]
fn a_relay_core_survives_the_corpus_and_10_000_generated_datagrams() {
	let seeds = corpus("relay_core");
	for input in seeds.iter().chain(&generated(&seeds, 10_000, 2)) {
		fuzzing::relay_core(input);
	}
}
