//! The loss benchmark: forward + backward of the focal and Dice losses, fused and composed, next to a copy
//! of the logits (the memory-traffic floor), tch's cross entropy and the cost of the input checks,
//! on the segmentation shapes `2 x 4 x 64^3`, `2 x 4 x 128^3` and the dense-detection shape
//! `8 x 20000 x 80`, in float32 on every intra-op thread, and the fused losses and the copy again
//! in float64 (the cases named `... f64`: the same logits cast, and the float64 time per byte
//! against the float32 one printed after each shape; target at most 2x). Medians (and fastest) of `--reps` runs
//! after one warm-up, the cases of a shape taking turns; peak memory of one forward + backward above the inputs, measured in a fresh process
//! per case (`VmHWM` after resetting it, with glibc returning every freed allocation above 64 KiB
//! to the system, so that resident memory follows allocation, and the kernels' kept output
//! buffers freed after the warm-up run, so that the measured run allocates its own).
//!
//! `cargo bench --bench losses -- [--reps N] [--shapes seg64,seg128,det] [--parts] [--cases A,B]
//! [--device cpu|cuda|cuda:N] [--json PATH] [--peer CMD]`. The cases named `floor ...` are
//! `benches/compute_floor`'s loops (x86-64: AVX-512F where the CPU has it, else AVX2 and FMA), in
//! the same rounds as ours.
//! `--peer CMD` starts the PyTorch anchors (`scripts/bench/anchors.py --serve ...`, through `sh
//! -c`) and gives them a turn after each of our rounds, so that a slow spell of the machine falls
//! on both sides alike (`make bench` does). `-- --scaling [--reps N]` prints instead the time per
//! element at `2 x 4 x side^3` for sides 32, 64, 128 and 160 and the speed-up from 1 thread to
//! all of them (the fused losses and a copy, in the same rounds). On a CUDA device every run ends
//! with a device synchronize, the copy is a CUDA copy (the floor), peak memory is not measured,
//! and the fused and floor cases are not run (the kernels are CPU kernels: the losses take their
//! composed path). `make bench` prints one table of both sides (`scripts/bench/report.py`).
//! Under `cargo test` (no `--bench` argument) it runs every case once on small shapes.

use std::cell::RefCell;
use std::time::Instant;

use focal::checks::{self, DTypes};
use focal::{
    fused, DiceFocalLoss, DiceLoss, FocalLoss, Loss, Reduction, SigmoidFocalLoss, SoftmaxFocalLoss,
};
use tch::{Device, Kind, Tensor};

/// The arithmetic floors (`benches/compute_floor`'s loops), timed here in the same rounds as the
/// losses and the copy, so that "x the floor" is a ratio within one run.
#[cfg(target_arch = "x86_64")]
#[allow(dead_code)]
#[path = "compute_floor/loops.rs"]
mod floor;

/// The floor loops' inputs (the same numbers as the tensors, in plain vectors) and their output
/// buffer, paged in once and reused (as `compute_floor` measures them).
#[cfg(target_arch = "x86_64")]
struct FloorInputs {
    /// Segmentation shapes: the logits and class targets; detection: the logits alone (`y`
    /// empty, one "class").
    classes: floor::inputs::Classes,
    /// The dense targets (one-hot classes, or the binary labels).
    dense: Vec<f32>,
    out: RefCell<Vec<f32>>,
}

/// Whether the floor loops can run here (x86-64 with AVX2 and FMA, or AVX-512F with them).
fn floor_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        floor::simd::Isa::Avx2.detected()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The instruction set the floor loops run with here (`None` where they cannot run).
fn floor_isa() -> Option<&'static str> {
    #[cfg(target_arch = "x86_64")]
    if floor_available() {
        return Some(floor::simd::Isa::best().name());
    }
    None
}

/// The floor loops' inputs for CPU inputs, where they can run.
#[cfg(target_arch = "x86_64")]
fn floor_inputs(logits: &Tensor, classes: Option<&Tensor>, dense: &Tensor) -> Option<FloorInputs> {
    if !floor_available() || logits.device() != Device::Cpu {
        return None;
    }
    let size = logits.size();
    let x = Vec::<f32>::try_from(logits.flatten(0, -1)).ok()?;
    let dense = Vec::<f32>::try_from(dense.flatten(0, -1)).ok()?;
    let (n, c, y) = match classes {
        Some(t) => (
            size[0] as usize,
            size[1] as usize,
            Vec::<i64>::try_from(t.flatten(0, -1)).ok()?,
        ),
        None => (1, 1, Vec::new()),
    };
    let spatial = x.len() / (n * c);
    let out = RefCell::new(vec![0.0f32; x.len()]);
    Some(FloorInputs {
        classes: floor::inputs::Classes {
            x,
            y,
            n,
            classes: c,
            spatial,
        },
        dense,
        out,
    })
}

/// Runs floor loop `case` (a case named `floor ...`) on every intra-op thread, in the widest
/// instruction set the CPU has (AVX-512F where it has it, else AVX2 and FMA).
#[cfg(target_arch = "x86_64")]
fn run_floor(case: &str, f: &FloorInputs) {
    let threads = tch::get_num_threads().max(1) as usize;
    let isa = floor::simd::Isa::best();
    let mut out = f.out.borrow_mut();
    let inp = &f.classes;
    let loss = match case {
        "floor copy" => {
            floor::threads::copy(&inp.x, &mut out, threads);
            0.0
        }
        "floor SoftmaxFocalLoss" => floor::softmax_focal::run::<true>(isa, inp, &mut out, threads),
        "floor FocalLoss" => floor::seed_focal::run(isa, inp, &mut out, threads),
        "floor SigmoidFocalLoss" => {
            floor::sigmoid_focal::run(isa, &inp.x, &f.dense, &mut out, threads)
        }
        "floor DiceLoss" => floor::dice::run(isa, inp, &mut out, threads),
        other => panic!("unknown case {other}"),
    };
    std::hint::black_box(loss);
}

/// The inputs of one shape.
struct Inputs {
    logits: Tensor,
    /// Class indices `(N, *)` (segmentation) or `None` (detection).
    classes: Option<Tensor>,
    /// Float targets of the logits' shape: one-hot classes, or random binary labels.
    dense: Tensor,
    /// `logits` and `dense` in float64 (the `... f64` cases).
    logits64: Tensor,
    dense64: Tensor,
    /// The floor loops' inputs (CPU, x86-64 with AVX2 and FMA, or AVX-512F with them).
    #[cfg(target_arch = "x86_64")]
    floor: Option<FloorInputs>,
}

impl Inputs {
    /// The inputs, with their float64 copies (and the floor loops' inputs).
    fn new(logits: Tensor, classes: Option<Tensor>, dense: Tensor) -> Self {
        Inputs {
            logits64: logits.to_kind(Kind::Double),
            dense64: dense.to_kind(Kind::Double),
            #[cfg(target_arch = "x86_64")]
            floor: floor_inputs(&logits, classes.as_ref(), &dense),
            logits,
            classes,
            dense,
        }
    }
}

/// The device of the run (`--device`, `cpu` by default).
fn device_of(name: &str) -> Device {
    match name {
        "cpu" => Device::Cpu,
        "cuda" => Device::Cuda(0),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => Device::Cuda(n),
            _ => panic!("--device {other}: expected cpu, cuda or cuda:N"),
        },
    }
}

/// Waits for the device's queued work (a no-op on the CPU).
fn synchronize(device: Device) {
    if let Device::Cuda(n) = device {
        tch::Cuda::synchronize(n as i64);
    }
}

/// The inputs of a shape, made on the CPU from seed 0 (the same numbers as the PyTorch side)
/// and moved to `device`.
fn inputs(shape: &str, small: bool, device: Device) -> Inputs {
    let inp = cpu_inputs(shape, small);
    if device == Device::Cpu {
        return inp;
    }
    Inputs {
        logits: inp.logits.to_device(device),
        classes: inp.classes.map(|c| c.to_device(device)),
        dense: inp.dense.to_device(device),
        logits64: inp.logits64.to_device(device),
        dense64: inp.dense64.to_device(device),
        #[cfg(target_arch = "x86_64")]
        floor: None,
    }
}

/// Segmentation inputs `2 x 4 x side^3` on the CPU (seed 0).
fn seg_inputs(side: i64) -> Inputs {
    tch::manual_seed(0);
    let logits = Tensor::randn([2, 4, side, side, side], (Kind::Float, Device::Cpu)) * 2.0;
    let classes = Tensor::randint(4, [2, side, side, side], (Kind::Int64, Device::Cpu));
    let dense = classes
        .one_hot(4)
        .permute([0, 4, 1, 2, 3])
        .to_kind(Kind::Float)
        .contiguous();
    Inputs::new(logits, Some(classes), dense)
}

/// `--scaling`: time per element of the fused losses (and a copy of the logits, measured in the
/// same rounds) at `2 x 4 x side^3` for each side, on every intra-op thread; then each loss's
/// speed-up from 1 thread to all of them at `128^3`. Medians of `reps`.
fn scaling(reps: usize) {
    let cases = ["copy", "FocalLoss", "SoftmaxFocalLoss", "SigmoidFocalLoss"];
    let threads = tch::get_num_threads();
    println!(
        "time per element (ns), float32 forward + backward, {threads} threads, medians of {reps}:"
    );
    println!(
        "{:>5} {:>10} {:>10} {:>10} {:>10}   (x copy)",
        "side", cases[0], cases[1], cases[2], cases[3]
    );
    for side in [32i64, 64, 128, 160] {
        let inp = seg_inputs(side);
        let n = inp.logits.numel() as f64;
        let t = timings(&cases, &inp, reps);
        let per: Vec<f64> = t.iter().map(|(m, _)| m * 1e6 / n).collect();
        println!(
            "{side:>5} {:>10.3} {:>10.3} {:>10.3} {:>10.3}   ({:.1} / {:.1} / {:.1})",
            per[0],
            per[1],
            per[2],
            per[3],
            per[1] / per[0],
            per[2] / per[0],
            per[3] / per[0]
        );
    }
    let inp = seg_inputs(128);
    tch::set_num_threads(1);
    let one = timings(&cases, &inp, reps);
    tch::set_num_threads(threads);
    let all = timings(&cases, &inp, reps);
    println!("speed-up from 1 to {threads} threads at 128^3 (medians, ms):");
    for ((case, (o, _)), (a, _)) in cases.iter().zip(&one).zip(&all) {
        println!("{case:>18}: {o:8.1} -> {a:8.1}  x{:.2}", o / a);
    }
}

fn cpu_inputs(shape: &str, small: bool) -> Inputs {
    tch::manual_seed(0);
    let opts = (Kind::Float, Device::Cpu);
    if shape == "det" {
        let dims: [i64; 3] = if small { [2, 100, 8] } else { [8, 20000, 80] };
        let logits = Tensor::randn(dims, opts) * 2.0 - 2.0;
        let dense = Tensor::rand(dims, opts).lt(0.01).to_kind(Kind::Float);
        return Inputs::new(logits, None, dense);
    }
    let side = match (shape, small) {
        (_, true) => 8,
        ("seg64", _) => 64,
        _ => 128,
    };
    let logits = Tensor::randn([2, 4, side, side, side], opts) * 2.0;
    let classes = Tensor::randint(4, [2, side, side, side], (Kind::Int64, Device::Cpu));
    let dense = classes
        .one_hot(4)
        .permute([0, 4, 1, 2, 3])
        .to_kind(Kind::Float)
        .contiguous();
    Inputs::new(logits, Some(classes), dense)
}

/// The cases of a shape on `device`: on a GPU, those that run no fused kernel.
fn cases_on(shape: &str, parts: bool, device: Device) -> Vec<&'static str> {
    let all = cases(shape, parts);
    if device == Device::Cpu {
        return all;
    }
    all.into_iter()
        .filter(|c| {
            !c.ends_with(" composed")
                && !c.ends_with(" surrogate")
                && !c.contains(" forward")
                && !c.starts_with("floor ")
        })
        .collect()
}

/// The cases of a shape; with `parts`, also the pieces of the fused softmax path (the kernel
/// without and with its gradient) and of libtorch's (softmax, dot, a fresh zeroed tensor).
fn cases(shape: &str, parts: bool) -> Vec<&'static str> {
    let mut all = vec!["copy"];
    if shape == "det" {
        all.extend([
            "bce_with_logits (tch)",
            "SigmoidFocalLoss",
            "SigmoidFocalLoss composed",
            "SigmoidFocalLoss surrogate",
            "copy f64",
            "SigmoidFocalLoss f64",
        ]);
        if floor_available() {
            all.extend(["floor copy", "floor SigmoidFocalLoss"]);
        }
        return all;
    }
    all.extend([
        "cross_entropy (tch)",
        "checks",
        "FocalLoss",
        "FocalLoss composed",
        "SoftmaxFocalLoss",
        "SoftmaxFocalLoss composed",
        "SoftmaxFocalLoss none",
        "SoftmaxFocalLoss none composed",
        "SoftmaxFocalLoss smoothing",
        "SoftmaxFocalLoss smoothing composed",
        "SigmoidFocalLoss",
        "SigmoidFocalLoss composed",
        "DiceLoss",
        "DiceLoss composed",
        "DiceLoss none",
        "DiceLoss none composed",
        "DiceFocalLoss",
        "DiceFocalLoss composed",
        "FocalLoss surrogate",
        "SoftmaxFocalLoss surrogate",
        "SigmoidFocalLoss surrogate",
        "copy f64",
        "FocalLoss f64",
        "SoftmaxFocalLoss f64",
        "SigmoidFocalLoss f64",
    ]);
    if floor_available() {
        all.extend([
            "floor copy",
            "floor FocalLoss",
            "floor SoftmaxFocalLoss",
            "floor SigmoidFocalLoss",
            "floor DiceLoss",
        ]);
    }
    if parts {
        all.extend([
            "SoftmaxFocalLoss forward",
            "SoftmaxFocalLoss forward with grad",
            "softmax (tch)",
            "dot (tch)",
            "zeros (tch)",
        ]);
    }
    all
}

/// Runs `case` once: forward and, for losses, backward; a case named `... f64` on the float64
/// logits (and float64 dense targets).
fn run_once(case: &str, inp: &Inputs) {
    let (case, logits, dense) = match case.strip_suffix(" f64") {
        Some(case) => (case, &inp.logits64, &inp.dense64),
        None => (case, &inp.logits, &inp.dense),
    };
    let x = logits.detach().set_requires_grad(true);
    let classes = || inp.classes.as_ref().expect("a segmentation shape");
    let loss = |l: &dyn Loss, target: &Tensor| l.forward(&x, target).backward();
    match case {
        // `Tensor::copy` would zero its destination first: an empty tensor and `copy_`, as
        // PyTorch's `clone`.
        "copy" => {
            let mut copy = logits.empty_like();
            copy.copy_(logits);
        }
        "cross_entropy (tch)" => x
            .cross_entropy_loss::<Tensor>(classes(), None, tch::Reduction::Mean, -100, 0.0)
            .backward(),
        "bce_with_logits (tch)" => x
            .binary_cross_entropy_with_logits::<Tensor>(dense, None, None, tch::Reduction::Mean)
            .backward(),
        "checks" => {
            checks::same_device("FocalLoss", &[("input", &x), ("target", classes())]).unwrap();
            checks::dtype("FocalLoss", "input", &x, DTypes::FLOAT).unwrap();
            checks::dtype("FocalLoss", "target", classes(), DTypes::INTEGER).unwrap();
            checks::class_indices("FocalLoss", "target", classes(), 4, None).unwrap();
        }
        "FocalLoss" => loss(&FocalLoss::default(), classes()),
        "FocalLoss composed" => fused::composed_only(|| loss(&FocalLoss::default(), classes())),
        "SoftmaxFocalLoss" => loss(&SoftmaxFocalLoss::default(), classes()),
        "SoftmaxFocalLoss composed" => {
            fused::composed_only(|| loss(&SoftmaxFocalLoss::default(), classes()))
        }
        // Reduction::None, then the losses' sum differentiated.
        "SoftmaxFocalLoss none" => unreduced(&x, classes()),
        "SoftmaxFocalLoss none composed" => fused::composed_only(|| unreduced(&x, classes())),
        "SoftmaxFocalLoss smoothing" => loss(&smoothing(), classes()),
        "SoftmaxFocalLoss smoothing composed" => {
            fused::composed_only(|| loss(&smoothing(), classes()))
        }
        "SigmoidFocalLoss" => loss(&SigmoidFocalLoss::default(), dense),
        "SigmoidFocalLoss composed" => {
            fused::composed_only(|| loss(&SigmoidFocalLoss::default(), dense))
        }
        // The segmentation demo's settings: softmax, class indices, defaults.
        "DiceLoss" => loss(&DiceLoss::default(), classes()),
        "DiceLoss composed" => fused::composed_only(|| loss(&DiceLoss::default(), classes())),
        // Reduction::None: the `(N, C)` losses' mean differentiated (the kernel's gradient pass
        // runs in the backward pass).
        "DiceLoss none" => dice_unreduced(&x, classes()),
        "DiceLoss none composed" => fused::composed_only(|| dice_unreduced(&x, classes())),
        "DiceFocalLoss" => loss(&DiceFocalLoss::default(), classes()),
        "DiceFocalLoss composed" => {
            fused::composed_only(|| loss(&DiceFocalLoss::default(), classes()))
        }
        "FocalLoss surrogate" => surrogate(&FocalLoss::default(), &x, classes()),
        "SoftmaxFocalLoss surrogate" => surrogate(&SoftmaxFocalLoss::default(), &x, classes()),
        "SigmoidFocalLoss surrogate" => surrogate(&SigmoidFocalLoss::default(), &x, dense),
        "SoftmaxFocalLoss forward" => {
            let _ = tch::no_grad(|| SoftmaxFocalLoss::default().forward(&x, classes()));
        }
        "SoftmaxFocalLoss forward with grad" => {
            let _ = SoftmaxFocalLoss::default().forward(&x, classes());
        }
        "softmax (tch)" => {
            let _ = logits.softmax(1, logits.kind());
        }
        "dot (tch)" => {
            let _ = logits.view([-1]).dot(&logits.view([-1]));
        }
        "zeros (tch)" => {
            let _ = logits.zeros_like();
        }
        #[cfg(target_arch = "x86_64")]
        floor if floor.starts_with("floor ") => {
            let inputs = inp
                .floor
                .as_ref()
                .expect("the floor loops' inputs (CPU, AVX2 + FMA or AVX-512F)");
            run_floor(floor, inputs);
        }
        other => panic!("unknown case {other}"),
    }
}

/// `DiceLoss` with `Reduction::None`: the `(N, C)` losses, then the backward pass of their mean.
fn dice_unreduced(x: &Tensor, target: &Tensor) {
    DiceLoss::default()
        .with_reduction(Reduction::None)
        .forward(x, target)
        .mean(x.kind())
        .backward();
}

/// `SoftmaxFocalLoss` with `Reduction::None`: the per-position losses, then the backward pass of
/// their sum.
fn unreduced(x: &Tensor, target: &Tensor) {
    SoftmaxFocalLoss::default()
        .with_reduction(Reduction::None)
        .forward(x, target)
        .sum(x.kind())
        .backward();
}

/// `SoftmaxFocalLoss` with label smoothing 0.1.
fn smoothing() -> SoftmaxFocalLoss {
    SoftmaxFocalLoss::default().with_label_smoothing(0.1)
}

/// The fused loss with its gradient registered the way focal did before its autograd node
/// (reproduced here, for the before/after comparison): `value.detach() + (d - d.detach())` with
/// `d = x . g`, one dot product forward and one scaled copy of `g` backward.
fn surrogate(loss: &dyn Loss, x: &Tensor, target: &Tensor) {
    let (value, kernel) = focal::__private::capture_kernel(|| loss.forward(x, target));
    let kernel = kernel.expect("the kernel ran");
    let grad = kernel.grad.expect("the kernel computed the gradient");
    let live = x.reshape([-1]).dot(&grad.detach().reshape([-1]));
    let zero = (&live - live.detach()) * kernel.grad_scale;
    (value.detach() + zero).backward();
}

/// The PyTorch side run in turns with this one (`--peer CMD`: `scripts/bench/anchors.py
/// --serve`, started through `sh -c`): after each round of our cases, one round of its cases, so
/// that a slow spell of the machine falls on both sides alike. The protocol is in `anchors.py`'s
/// documentation.
struct Peer {
    child: std::process::Child,
    input: std::process::ChildStdin,
    output: std::io::BufReader<std::process::ChildStdout>,
}

impl Peer {
    fn start(command: &str) -> Peer {
        use std::process::{Command, Stdio};
        let mut child = Command::new("sh")
            .args(["-c", command])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("--peer {command}: {e}"));
        let input = child.stdin.take().expect("the peer's stdin");
        let output = std::io::BufReader::new(child.stdout.take().expect("the peer's stdout"));
        Peer {
            child,
            input,
            output,
        }
    }

    /// Sends one command and waits for its answer.
    fn ask(&mut self, command: &str, expected: &str) {
        use std::io::{BufRead, Write};
        writeln!(self.input, "{command}")
            .and_then(|()| self.input.flush())
            .unwrap_or_else(|e| panic!("the peer stopped reading ({command}): {e}"));
        let mut answer = String::new();
        self.output
            .read_line(&mut answer)
            .unwrap_or_else(|e| panic!("the peer's answer to {command}: {e}"));
        assert_eq!(answer.trim(), expected, "the peer's answer to {command}");
        // The peer's idle intra-op threads spin for a while after its last parallel region
        // (libgomp's wait policy) and would take a core from our next run.
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    /// Ends the peer (which then writes its JSON) and waits for it.
    fn quit(mut self) {
        use std::io::Write;
        let _ = writeln!(self.input, "quit").and_then(|()| self.input.flush());
        drop(self.input);
        let status = self.child.wait().expect("waiting for the peer");
        assert!(status.success(), "the peer failed: {status}");
    }
}

/// The median and the fastest of `reps` timed runs of each case, in milliseconds, after one
/// warm-up run each. The cases take turns (one run of each per round), so that a slow spell of
/// the machine falls on all of them alike rather than on whichever case it met.
fn timings(cases: &[&str], inp: &Inputs, reps: usize) -> Vec<(f64, f64)> {
    timings_with(cases, inp, reps, None)
        .into_iter()
        .map(|t| (t.median, t.min))
        .collect()
}

/// One case's timed runs, in milliseconds.
struct Timing {
    median: f64,
    min: f64,
    /// Each round's run, in the rounds' order (the report pairs them with the peer's rounds).
    rounds: Vec<f64>,
}

/// [`timings`], with a peer (and the name of the shape for it) taking its turn after each of our
/// rounds: it makes its inputs of the shape and warms its cases up after ours, then runs one
/// round of them after each of ours.
fn timings_with(
    cases: &[&str],
    inp: &Inputs,
    reps: usize,
    mut peer: Option<(&mut Peer, &str)>,
) -> Vec<Timing> {
    let device = inp.logits.device();
    for case in cases {
        run_once(case, inp);
    }
    synchronize(device);
    if let Some((peer, shape)) = peer.as_mut() {
        peer.ask(&format!("shape {shape}"), "ready");
    }
    let mut times = vec![Vec::with_capacity(reps); cases.len()];
    for _ in 0..reps {
        for (case, t) in cases.iter().zip(&mut times) {
            let start = Instant::now();
            run_once(case, inp);
            synchronize(device);
            t.push(start.elapsed().as_secs_f64() * 1e3);
        }
        if let Some((peer, _)) = peer.as_mut() {
            peer.ask("round", "ok");
        }
    }
    times
        .into_iter()
        .map(|rounds| {
            let mut sorted = rounds.clone();
            sorted.sort_by(f64::total_cmp);
            Timing {
                median: sorted[sorted.len() / 2],
                min: sorted[0],
                rounds,
            }
        })
        .collect()
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// In a fresh process: the peak resident memory of one run above the memory before it, in bytes
/// (the inputs are made, and the peak is reset, first).
fn peak_above_inputs(case: &str, inp: &Inputs) -> Option<u64> {
    // The first run loads and warms what is loaded once per process (thread pools, kernels).
    run_once(case, inp);
    // Its freed output buffers are kept for the next call (`fused::kept_buffers`), which would
    // then need no new memory: freed, so that the peak counts the buffers of one call.
    fused::release_kept_buffers();
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    let before = status_kib("VmRSS:");
    run_once(case, inp);
    let peak = status_kib("VmHWM:");
    Some(peak.saturating_sub(before) * 1024)
}

/// The float64 time per byte of the logits against the float32 one, for each case run in both
/// (`per_byte`: each case's median per byte); the target is at most 2x.
fn print_f64_ratios(shape: &str, per_byte: &[(&str, f64)]) {
    let of = |name: &str| per_byte.iter().find(|(c, _)| *c == name).map(|(_, t)| *t);
    for (case, t64) in per_byte {
        let Some(base) = case.strip_suffix(" f64") else {
            continue;
        };
        if let Some(t32) = of(base) {
            let ratio = t64 / t32;
            eprintln!(
                "{shape:7} {base:36} float64 / float32 time per byte {ratio:5.2} (target <= 2: {})",
                if ratio <= 2.0 { "met" } else { "not met" }
            );
        }
    }
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(spec) = arg(&args, "--memory-of") {
        let (shape, case) = spec.split_once(':').expect("--memory-of shape:case");
        let inp = inputs(shape, false, Device::Cpu);
        println!("{}", peak_above_inputs(case, &inp).unwrap_or(0));
        return;
    }
    let bench = args.iter().any(|a| a == "--bench");
    if !bench {
        // Under `cargo test`: every case once, on small inputs.
        for shape in ["seg64", "det"] {
            let inp = inputs(shape, true, Device::Cpu);
            for case in cases(shape, true) {
                run_once(case, &inp);
            }
        }
        println!("bench smoke run: ok");
        return;
    }
    let reps: usize = arg(&args, "--reps")
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    if args.iter().any(|a| a == "--scaling") {
        scaling(reps);
        return;
    }
    let shapes = arg(&args, "--shapes").unwrap_or_else(|| "seg64,seg128,det".into());
    let parts = args.iter().any(|a| a == "--parts");
    let only = arg(&args, "--cases");
    let device_name = arg(&args, "--device").unwrap_or_else(|| "cpu".into());
    let device = device_of(&device_name);
    let exe = std::env::current_exe().expect("the bench's own path");
    let mut peer = arg(&args, "--peer").map(|command| Peer::start(&command));
    let mut rows = Vec::new();
    for shape in shapes.split(',') {
        let inp = inputs(shape, false, device);
        let numel = inp.logits.numel();
        let chosen: Vec<&str> = cases_on(shape, parts, device)
            .into_iter()
            .filter(|case| {
                only.as_ref()
                    .is_none_or(|o| o.split(',').any(|c| c == *case))
            })
            .collect();
        let mut medians = Vec::new();
        let measured = timings_with(&chosen, &inp, reps, peer.as_mut().map(|p| (p, shape)));
        for (case, timing) in chosen.iter().zip(measured) {
            let Timing {
                median,
                min,
                rounds,
            } = timing;
            let logits_bytes = numel * if case.ends_with(" f64") { 8 } else { 4 };
            medians.push((*case, median / logits_bytes as f64));
            // The floor loops allocate nothing (their buffer is made with the inputs).
            let peak = (device == Device::Cpu && !case.starts_with("floor "))
                .then(|| {
                    std::process::Command::new(&exe)
                        .args(["--memory-of", &format!("{shape}:{case}")])
                        // Every allocation above 64 KiB mapped and returned on free, so that the resident
                        // memory follows what is allocated (glibc otherwise keeps freed chunks below 32 MiB).
                        .env("MALLOC_MMAP_THRESHOLD_", "65536")
                        .output()
                        .ok()
                        .and_then(|o| {
                            String::from_utf8_lossy(&o.stdout)
                                .trim()
                                .parse::<u64>()
                                .ok()
                        })
                })
                .flatten();
            let peak_text = peak.map_or("     n/a".into(), |p| {
                format!("{:>8.1}", p as f64 / (1 << 20) as f64)
            });
            eprintln!(
                "{shape:7} {case:36} {median:9.1} ms (fastest {min:7.1})  peak {peak_text} MiB above inputs"
            );
            rows.push(serde_json::json!({
                "side": "focal",
                "shape": shape,
                "case": case,
                "median_ms": median,
                "min_ms": min,
                "rounds_ms": rounds,
                "peak_bytes": peak,
                "logits_bytes": logits_bytes,
            }));
        }
        print_f64_ratios(shape, &medians);
        if let Some(peer) = peer.as_mut() {
            // Its medians and peak memory (while ours wait).
            peer.ask("end", "ok");
        }
    }
    if let Some(peer) = peer {
        peer.quit();
    }
    let malloc: Vec<String> = ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| format!("{k}={v}")))
        .collect();
    let doc = serde_json::json!({
        "device": device_name,
        "malloc": malloc.join(" "),
        "threads": tch::get_num_threads(),
        "simd": format!("{:?}", fused::detected_simd_level()),
        "floor_isa": floor_isa(),
        "reps": reps,
        "interleaved": arg(&args, "--peer").is_some(),
        "rows": rows,
    });
    let text = serde_json::to_string_pretty(&doc).expect("json");
    match arg(&args, "--json") {
        Some(path) => std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {path}: {e}")),
        None => println!("{text}"),
    }
}
