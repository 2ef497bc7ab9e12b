fn main() {
    let arch: advbn::model::Arch = std::env::args()
        .nth(1)
        .unwrap_or("resnet20".into())
        .parse()
        .unwrap();
    let batch: usize = std::env::args().nth(2).map(|s| s.parse().unwrap()).unwrap_or(128);
    let d = burn::tensor::Device::flex();
    for advbn in [false, true] {
        let row = advbn::bench::train_throughput(arch, batch, advbn, 1, 3, &d);
        println!("{row:?}");
    }
}
