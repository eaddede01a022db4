// ordo-one/benchmark suite for the decoder: `swift package benchmark` in Benchmarks/.
//
// One iteration is one pass over a whole workload (scalingFactor .one), so `throughput` is
// passes per second; multiply by the bytes per iteration printed at startup to get bytes/s.
// The custom metric `Input bytes/s` does that conversion per iteration (input bytes, client +
// server, / wall time of the pass); the table scales it, so `Input bytes/s (M)` reads as MB/s
// (MB = 1,000,000 bytes) and `(K)` as kB/s. Its percentiles run best (p0) to worst (p100).
import Benchmark
import IMAPCore
import Workloads

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A line on standard error.
func eprint(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { b in _ = write(2, b.baseAddress, b.count) }
}

let inputBytesPerSecond = BenchmarkMetric.custom("Input bytes/s", polarity: .prefersLarger, useScalingFactor: false)

/// Runs `pass` once per scaled iteration and records its input bytes per second.
func measure(_ benchmark: Benchmark, _ w: Workload, _ pass: (Workload) -> Int) {
    let clock = ContinuousClock()
    for _ in benchmark.scaledIterations {
        let t0 = clock.now
        blackHole(pass(w))
        let d = clock.now - t0
        let ns = Double(d.components.seconds) * 1e9 + Double(d.components.attoseconds) / 1e9
        if ns > 0 {
            benchmark.measurement(inputBytesPerSecond, Int((Double(w.totalBytes) / ns * 1e9).rounded()))
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    // Built once, outside every measured region.
    let literalHeavy = Workloads.literalHeavy()
    let commandHeavy = Workloads.commandHeavy()
    // stderr, so the line does not get in the way of the plugin's own output formats.
    eprint("\(literalHeavy.summary)\n\(commandHeavy.summary)")

    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .cpuTotal, .mallocCountTotal, .peakMemoryResident, inputBytesPerSecond],
        timeUnits: .milliseconds,
        warmupIterations: 2,
        scalingFactor: .one,
        maxDuration: .seconds(5),
        maxIterations: 1_000
    )

    Benchmark("decoder literal-heavy") { benchmark in
        measure(benchmark, literalHeavy) { Pass.decode($0) }
    }

    Benchmark("decoder command-heavy") { benchmark in
        measure(benchmark, commandHeavy) { Pass.decode($0) }
    }

    Benchmark("decoder+redact+jsonl command-heavy") { benchmark in
        var buffer: [UInt8] = []
        buffer.reserveCapacity(256 * 1024)
        measure(benchmark, commandHeavy) { Pass.decodeRedactJSONL($0, redactor: Pass.redactor, buffer: &buffer) }
    }
}
