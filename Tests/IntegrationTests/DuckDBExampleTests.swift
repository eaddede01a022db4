import Foundation
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

/// The README's DuckDB example, run as written through DuckDB's Python package (`pip install
/// duckdb`, see scripts/install_test_packages) over JSON Lines that `imapscope read` wrote from
/// the committed captures; its numbers must be the ones imapscope's own events give.
@Suite("DuckDB example")
struct DuckDBExampleTests {
    static let captures = [
        "pcap-mbsync.pcap", "pcap-login-select-fetch.pcap", "pcap-idle-delivery.pcap", "pcap-condstore-qresync.pcap",
        "pcap-append-literals.pcap", "pcap-auth-plain.pcap",
    ]

    /// The first ```sql block after `<!-- duckdb-example -->` in the README.
    static func readmeQuery() throws -> String {
        let readme = try String(contentsOf: Repo.root.appendingPathComponent("README.md"), encoding: .utf8)
        let marker = try #require(readme.range(of: "<!-- duckdb-example -->"), "no duckdb-example marker in README.md")
        let open = try #require(readme.range(of: "```sql\n", range: marker.upperBound..<readme.endIndex))
        let close = try #require(readme.range(of: "```", range: open.upperBound..<readme.endIndex))
        return String(readme[open.upperBound..<close.lowerBound])
    }

    @Test("commands per name with p95 latency over several captures, as imapscope's events say")
    func readmeQueryMatchesEvents() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("imapscope-duckdb-\(UUID())")
        let events = dir.appendingPathComponent("events")
        try FileManager.default.createDirectory(at: events, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // What the events say: completed commands per name and the nearest-rank 95th percentile.
        var latencies: [String: [Double]] = [:]
        for name in Self.captures {
            let out = events.appendingPathComponent(name + ".jsonl")
            let r = try run(
                Binary.imapscope,
                ["read", Repo.captures.appendingPathComponent(name).path, "--format", "jsonl", "-o", out.path])
            #expect(r.status == 0, "\(r.stderr)")
            for e in try JSONLinesReader.read([UInt8](try Data(contentsOf: out))) {
                if case .tagged(let t) = e.body, let c = t.command, let l = t.latencyMs {
                    latencies[c, default: []].append(l)
                }
            }
        }
        let expected = latencies.map { name, values -> String in
            let sorted = values.sorted()
            let rank = Int((0.95 * Double(sorted.count)).rounded(.up)) - 1
            return "\(name)|\(sorted.count)|\(Decimal.format(sorted[max(0, rank)], 3))"
        }.sorted()
        #expect(expected.count >= 10)

        let script = """
            import duckdb, sys
            for row in duckdb.sql(sys.stdin.read()).fetchall():
                print("|".join(str(v) for v in row[:2]) + "|" + format(row[2], ".3f"))
            """
        let query = try Self.readmeQuery()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script]
        p.currentDirectoryURL = dir
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = errors
        try p.run()
        input.fileHandleForWriting.write(Data(query.utf8))
        try input.fileHandleForWriting.close()
        let got = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let err = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "python3/duckdb: \(err)")
        let rows = got.split(separator: "\n").map(String.init)
        #expect(rows.sorted() == expected)
        // The README orders by count, most frequent first.
        let counts = rows.compactMap { Int($0.split(separator: "|")[1]) }
        #expect(counts == counts.sorted(by: >))
    }
}
