import Foundation
import IMAPTestSupport
import Testing

/// Peak resident memory of `imapscope read` on inputs that used to grow it with their size
/// (issue 9 point 5), through `scripts/memory_bounds.py`. At the sizes here the code before the
/// bounds peaked over the limit (127 MB for 50,000 SYNs, 119 MB for a 20 MB transcript, debug
/// build); the full sizes (200,000 SYNs, 200 MB) take minutes in a debug build and are run by
/// the script itself.
@Suite("Memory bounds")
struct MemoryBoundsTests {
    @Test(.disabled(if: Sanitizer.isActive, "a sanitizer's shadow memory says nothing of ours"))
    func synFloodAndBigTranscriptStayUnder100MB() throws {
        let script = DovecotProcess.repository.appendingPathComponent("scripts/memory_bounds.py").path
        let r = try run(
            "/usr/bin/python3",
            [
                script, "--binary", Binary.imapscope, "--limit-mb", "100",
                "--syns", "50000", "--transcript-mb", "20",
            ])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let peaks = r.stdout.split(separator: "\n").compactMap { line -> Double? in
            guard let range = line.range(of: "peak RSS ") else { return nil }
            return Double(line[range.upperBound...].prefix { $0.isNumber || $0 == "." })
        }
        #expect(peaks.count == 2, "\(r.stdout)")
        #expect(peaks.allSatisfy { $0 < 100 }, "\(r.stdout)")
        #expect(r.stdout.contains("40000 flows evicted over the 10000-flow cap"), "\(r.stdout)")
    }
}
