import Foundation
import IMAPCore
import IMAPTranscript

#if canImport(Glibc)
    import Glibc
#endif

/// `read --jobs N`: N threads decode files at once, each file through a pipeline of its own
/// (the same Redactor key, so markers match) into a spool file of its own; the calling thread
/// copies each spool whole to the output in the order of the files, as soon as it is done and
/// every earlier one was copied. Events of a file stay in order, files never interleave, and
/// JSON Lines sequence numbers are shifted to count on across files.
final class ParallelRead: @unchecked Sendable {
    private final class Job: @unchecked Sendable {
        let index: Int
        let path: String
        /// This file's transcript number when it is a transcript (sessions `t1`, `t2`, … in file order).
        let transcript: Int
        let done = DispatchSemaphore(value: 0)
        var spool: String?
        var events = 0
        var summary: SummarySink?
        var failure: String?

        init(index: Int, path: String, transcript: Int) {
            self.index = index
            self.path = path
            self.transcript = transcript
        }
    }

    private let jobs: [Job]
    private let threads: Int
    private let capture: CaptureOptions
    private let output: Output
    private let lock = NSLock()
    private var next = 0
    private let spoolDirectory: String

    init(files: [String], jobs threads: Int, capture: CaptureOptions, output: Output) {
        // Transcripts are numbered in file order, as `read` without --jobs numbers them: look at
        // each file's first bytes now (an unreadable file fails again, in its turn, below).
        var transcripts = 0
        jobs = files.enumerated().map { index, path in
            if let input = try? InputFile.open(path), input.captureKind == nil, !InputSource.isJSONLines(input.head) {
                transcripts += 1
            }
            return Job(index: index, path: path, transcript: transcripts)
        }
        self.threads = threads
        self.capture = capture
        self.output = output
        spoolDirectory =
            FileManager.default.temporaryDirectory.path + "/imapscope-jobs-\(getpid())-\(UUID().uuidString)"
    }

    /// Reads every file; returns the failures, in file order.
    func run() -> [String] {
        do { try FileManager.default.createDirectory(atPath: spoolDirectory, withIntermediateDirectories: true) } catch
        {
            return ["cannot make a spool directory \(spoolDirectory): \(error)"]
        }
        defer { try? FileManager.default.removeItem(atPath: spoolDirectory) }
        for _ in 0..<min(threads, jobs.count) {
            Thread { [self] in
                while let job = take() { decode(job) }
            }.start()
        }
        var failures: [String] = []
        var seqOffset = 0
        for job in jobs {
            job.done.wait()
            if let spool = job.spool {
                copy(spool, shiftingSeqBy: output.format == .jsonl ? seqOffset : 0)
                unlink(spool)
            }
            seqOffset += job.events
            if let summary = job.summary { output.summary?.merge(summary) }
            if let failure = job.failure { failures.append(failure) }
        }
        // The pipeline's own sequence numbers go on from the files' (nothing more is published).
        return failures
    }

    private func take() -> Job? {
        lock.withLock {
            guard next < jobs.count else { return nil }
            defer { next += 1 }
            return jobs[next]
        }
    }

    private func decode(_ job: Job) {
        defer { job.done.signal() }
        let index = job.index
        let path = spoolDirectory + "/\(index)"
        let spool: FileOutput
        do { spool = try FileOutput(path: path) } catch {
            job.failure = "\(error)"
            return
        }
        job.spool = path
        let summary = output.summary == nil ? nil : SummarySink()
        let pipeline = EventPipeline(
            redactor: output.redactor,
            sinks: [output.sink(writingTo: spool, afterOtherFiles: index > 0)] + (summary.map { [$0] } ?? []))
        var transcripts = job.transcript - 1
        do {
            try InputSource.read(
                job.path, capture: capture, options: output.options, pipeline: pipeline, transcripts: &transcripts,
                showProgress: false)
        } catch {
            job.failure = "\(error)"
        }
        pipeline.finish()
        spool.flush()
        job.events = pipeline.nextSeq - 1
        job.summary = summary
    }

    /// Copies a spool to the output in blocks; JSON Lines get `offset` added to each line's `seq`.
    private func copy(_ path: String, shiftingSeqBy offset: Int) {
        guard let file = fopen(path, "rb") else { return }
        defer { fclose(file) }
        var block = [UInt8](repeating: 0, count: 1 << 20)
        var partial: [UInt8] = []
        while true {
            let got = block.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if got == 0 { break }
            if offset == 0 {
                output.out.write(Array(block[0..<got]))
                continue
            }
            partial += block[0..<got]
            guard let lastBreak = partial.lastIndex(of: 0x0A) else { continue }
            var shifted: [UInt8] = []
            shifted.reserveCapacity(lastBreak + 64)
            var start = 0
            while start <= lastBreak {
                let end = partial[start...lastBreak].firstIndex(of: 0x0A) ?? lastBreak
                JSONLinesSeq.shift(partial[start...end], by: offset, into: &shifted)
                start = end + 1
            }
            output.out.write(shifted)
            partial.removeFirst(lastBreak + 1)
        }
        if !partial.isEmpty {
            var tail: [UInt8] = []
            JSONLinesSeq.shift(partial[...], by: offset, into: &tail)
            output.out.write(tail)
        }
        output.out.flush()
    }
}

/// The `seq` of a line `JSONLinesWriter` wrote: `{"session":"…","seq":N,…`.
enum JSONLinesSeq {
    /// Appends `line` to `out` with `offset` added to its seq; a line of another shape as it is.
    static func shift(_ line: ArraySlice<UInt8>, by offset: Int, into out: inout [UInt8]) {
        let prefix = Array(#"{"session":""#.utf8)
        let seqKey = Array(#","seq":"#.utf8)
        var position = line.startIndex
        guard line.starts(with: prefix) else { return out.append(contentsOf: line) }
        position += prefix.count
        // The session id: a JSON string, to its closing quote.
        while position < line.endIndex, line[position] != 0x22 { position += line[position] == 0x5C ? 2 : 1 }
        position += 1
        guard position < line.endIndex, line[position...].starts(with: seqKey) else {
            return out.append(contentsOf: line)
        }
        let digitsStart = position + seqKey.count
        var digitsEnd = digitsStart
        var value = 0
        while digitsEnd < line.endIndex, (0x30...0x39).contains(line[digitsEnd]), value < Int.max / 100 {
            value = value * 10 + Int(line[digitsEnd] - 0x30)
            digitsEnd += 1
        }
        guard digitsEnd > digitsStart else { return out.append(contentsOf: line) }
        out.append(contentsOf: line[line.startIndex..<digitsStart])
        out.append(contentsOf: String(value + offset).utf8)
        out.append(contentsOf: line[digitsEnd...])
    }
}
