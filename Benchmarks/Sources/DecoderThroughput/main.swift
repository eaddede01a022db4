// A plain throughput runner, no benchmark framework: each workload is decoded over and over
// for about `--seconds` seconds (3 by default) and reported as one line
//
//     decoder literal-heavy: 123.45 MB/s (…)
//
// MB/s is input bytes (client + server) / wall time, with MB = 1,000,000 bytes.
//
//     swift run -c release DecoderThroughput [--seconds S] [--chunk BYTES] [--pipeline ROUNDS] [--quiet] [filter...]
//
// --chunk sets the bytes per feed() call (16384); --pipeline the rounds of 8 commands the
// command-heavy client sends before the server answers (8, so 64 commands in flight).
// A filter keeps the workloads whose name contains it (e.g. `jsonl`, `literal`).
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

struct Case {
    let name: String
    let workload: String
    let run: (Workload) -> Int
}

var seconds = 3.0
var quiet = false
var chunkSize = Workloads.chunkSize
var pipeline = 8
var filters: [String] = []
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--seconds", "-s":
        guard let v = args.popFirst().flatMap(Double.init), v > 0 else {
            eprint("--seconds needs a positive number"); exit(2)
        }
        seconds = v
    case "--chunk", "-c":
        guard let v = args.popFirst().flatMap({ Int($0) }), v > 0 else {
            eprint("--chunk needs a positive number of bytes"); exit(2)
        }
        chunkSize = v
    case "--pipeline", "-p":
        guard let v = args.popFirst().flatMap({ Int($0) }), v > 0 else {
            eprint("--pipeline needs a positive number of rounds"); exit(2)
        }
        pipeline = v
    case "--quiet", "-q": quiet = true
    case "--help", "-h":
        print("usage: DecoderThroughput [--seconds S] [--chunk BYTES] [--pipeline ROUNDS] [--quiet] [filter...]")
        exit(0)
    default: filters.append(a)
    }
}

nonisolated(unsafe) var jsonBuffer: [UInt8] = []
jsonBuffer.reserveCapacity(256 * 1024)

let cases = [
    Case(name: "decoder literal-heavy", workload: "literal-heavy") { Pass.decode($0) },
    Case(name: "decoder command-heavy", workload: "command-heavy") { Pass.decode($0) },
    Case(name: "decoder+redact+jsonl literal-heavy", workload: "literal-heavy") {
        Pass.decodeRedactJSONL($0, redactor: Pass.redactor, buffer: &jsonBuffer)
    },
    Case(name: "decoder+redact+jsonl command-heavy", workload: "command-heavy") {
        Pass.decodeRedactJSONL($0, redactor: Pass.redactor, buffer: &jsonBuffer)
    },
].filter { c in filters.isEmpty || filters.contains { c.name.contains($0) } }

if cases.isEmpty {
    eprint("no workload matches \(filters)")
    exit(2)
}

var built: [String: Workload] = [:]
for name in Set(cases.map(\.workload)).sorted() {
    let w = Workloads.named(name, chunkSize: chunkSize, batch: pipeline)!
    built[name] = w
    if !quiet {
        let c = Pass.census(w)
        let kinds = c.kinds.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")
        let lints = c.lints.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        print("# \(w.summary)")
        print("#   events per pass: \(kinds)\(lints.isEmpty ? "" : "; lints: \(lints)")")
    }
}

let clock = ContinuousClock()
var sink = 0
for c in cases {
    let w = built[c.workload]!
    sink &+= c.run(w) // warm-up pass, not timed
    var passes = 0
    let start = clock.now
    var elapsed = Duration.zero
    while elapsed < .milliseconds(Int64(seconds * 1000)) || passes == 0 {
        sink &+= c.run(w)
        passes += 1
        elapsed = clock.now - start
    }
    let s = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let mbps = Double(w.totalBytes) * Double(passes) / s / 1e6
    let line = "\(c.name): \(Decimal.format(mbps, 2)) MB/s"
    if quiet {
        print(line)
    } else {
        print("\(line) (\(passes) passes of \(w.totalBytes) bytes in \(Decimal.format(s, 2)) s, \(Decimal.format(s / Double(passes) * 1000, 2)) ms per pass)")
    }
}
if sink == 42 { print("") } // keeps the results alive
