import IMAPCore
import Testing

/// Framer vectors: bytes in → frames out, described compactly.
struct FramerVector: CustomTestStringConvertible, Sendable {
    var input: String
    var frames: [String]
    var client = false
    var testDescription: String { input.debugDescription }
}

private func describe(_ f: Frame) -> String {
    switch f {
    case .line(let l):
        return "line "
            + l.segments.map { s -> String in
                var out = String(decoding: s.text, as: UTF8.self)
                if s.ending == .lf { out += "⏎lf" } else if s.ending == .none { out += "⏎eof" }
                if let lit = s.literal {
                    out +=
                        "[\(lit.header.text()) "
                        + (lit.content.map { String(decoding: $0, as: UTF8.self).debugDescription }
                            ?? "\(lit.received)/\(lit.header.size) bytes") + "]"
                }
                return out
            }.joined(separator: "|")
    case .needsContinuation(let h): return "wait \(h.text())"
    case .overlong(let p, let n): return "overlong \(p.count)/\(n)"
    case .resynchronized(let p, let n): return "resync \(p.count)/\(n)"
    }
}

private func frames(_ input: [UInt8], client: Bool, cuts: [Int], limits: FramerLimits = FramerLimits()) -> [String] {
    var f = LineFramer(limits: limits, pausesAtSynchronizingLiterals: client)
    var out: [String] = []
    var start = 0
    for end in cuts + [input.count] where end >= start {
        f.append(input[start..<end])
        start = end
        while let fr = f.nextFrame() {
            out.append(describe(fr))
            if case .needsContinuation = fr { f.continueLiteral() }
        }
    }
    if let fr = f.finish() { out.append(describe(fr)) }
    return out
}

@Suite("Framer")
struct FramerTests {
    static let vectors: [FramerVector] = [
        .init(input: "a1 NOOP\r\n", frames: ["line a1 NOOP"]),
        .init(input: "a1 NOOP\n", frames: ["line a1 NOOP⏎lf"]),
        .init(input: "a1 NOOP\r\na2 CHECK\r\n", frames: ["line a1 NOOP", "line a2 CHECK"]),
        .init(input: "\r\n", frames: ["line "]),
        .init(
            input: "a LOGIN {5}\r\nalice {8}\r\npassword\r\n",
            frames: ["line a LOGIN {5}[{5} \"alice\"]| {8}[{8} \"password\"]|"]),
        .init(
            input: "a LOGIN {5}\r\nalice {8}\r\npassword\r\n",
            frames: ["wait {5}", "wait {8}", "line a LOGIN {5}[{5} \"alice\"]| {8}[{8} \"password\"]|"], client: true),
        .init(
            input: "a LOGIN alice {8+}\r\npassword\r\n", frames: ["line a LOGIN alice {8+}[{8+} \"password\"]|"],
            client: true),
        .init(input: "x {3-}\r\nabc\r\n", frames: ["line x {3-}[{3-} \"abc\"]|"], client: true),
        .init(
            input: "a APPEND INBOX ~{4}\r\n\u{0}\r\n\u{1}\r\n",
            frames: ["line a APPEND INBOX ~{4}[~{4} \"\\0\\r\\n\\u{01}\"]|"]),
        .init(input: "* 1 FETCH (BODY[] {0}\r\n)\r\n", frames: ["line * 1 FETCH (BODY[] {0}[{0} \"\"]|)"]),
        .init(
            input: "* 1 FETCH (BODY[1] {2}\r\nab BODY[2] {2}\r\ncd BODY[3] {1}\r\n\n)\r\n",
            frames: ["line * 1 FETCH (BODY[1] {2}[{2} \"ab\"]| BODY[2] {2}[{2} \"cd\"]| BODY[3] {1}[{1} \"\\n\"]|)"]),
        .init(input: "a SEARCH SUBJECT \"x {5}\r\n", frames: ["line a SEARCH SUBJECT \"x {5}"]),
        .init(
            input: "a SEARCH SUBJECT \"q\\\" {2}\r\nab\r\n", frames: ["line a SEARCH SUBJECT \"q\\\" {2}", "line ab"]),
        .init(
            input: "a SEARCH SUBJECT \"q\\\"\" {2}\r\nab\r\n",
            frames: ["line a SEARCH SUBJECT \"q\\\"\" {2}[{2} \"ab\"]|"]),
        .init(input: "a NOOP {x}\r\n", frames: ["line a NOOP {x}"]),
        .init(input: "* 1 FETCH (BODY[] {10}\r\nabc", frames: ["line * 1 FETCH (BODY[] {10}[{10} 3/10 bytes]|⏎eof"]),
        .init(input: "a1 NOO", frames: ["line a1 NOO⏎eof"]),
    ]

    @Test("frames", arguments: vectors)
    func frames(_ v: FramerVector) {
        let input = Array(v.input.utf8)
        #expect(FramerTests.framesOf(input, client: v.client, cuts: []) == v.frames)
        for cut in 1..<input.count {
            #expect(FramerTests.framesOf(input, client: v.client, cuts: [cut]) == v.frames, "cut at \(cut)")
        }
        #expect(FramerTests.framesOf(input, client: v.client, cuts: Array(1..<input.count)) == v.frames, "byte by byte")
    }

    static func framesOf(_ input: [UInt8], client: Bool, cuts: [Int]) -> [String] {
        IMAPCoreTests.frames(input, client: client, cuts: cuts)
    }

    @Test("every command vector frames identically when cut anywhere", arguments: CommandVectorTests.vectors)
    func commandVectorsCut(_ v: CommandVector) {
        let input = Array((v.line + "\r\n").utf8)
        let whole = FramerTests.framesOf(input, client: false, cuts: [])
        for cut in 1..<input.count { #expect(FramerTests.framesOf(input, client: false, cuts: [cut]) == whole) }
    }

    @Test func overlongLineResynchronises() {
        var limits = FramerLimits()
        limits.maxLineLength = 100
        let input = Array((String(repeating: "x", count: 250) + "\r\na1 NOOP\r\n").utf8)
        for cuts in [[], [50], [120], Array(stride(from: 7, to: input.count, by: 7))] {
            #expect(
                IMAPCoreTests.frames(input, client: false, cuts: cuts, limits: limits) == [
                    "overlong 100/252", "line a1 NOOP",
                ], "\(cuts)")
        }
    }

    @Test func literalBodyIsNotRetainedPastTheLimit() {
        var limits = FramerLimits()
        limits.literalRetainLimit = 10
        var f = LineFramer(limits: limits, pausesAtSynchronizingLiterals: false)
        f.append(Array("* 1 FETCH (BODY[] {100}\r\n".utf8) + [UInt8](repeating: 65, count: 100) + Array(")\r\n".utf8))
        guard case .line(let l)? = f.nextFrame() else {
            Issue.record("no line")
            return
        }
        let lit = l.segments[0].literal!
        #expect(lit.content == nil)
        #expect(lit.preview == [UInt8](repeating: 65, count: 64))
        #expect(lit.received == 100)
        #expect(l.wireBytes == 25 + 100 + 3)
    }

    @Test func gapInsideALiteralKeepsFraming() {
        var f = LineFramer(pausesAtSynchronizingLiterals: false)
        f.append(Array("* 1 FETCH (BODY[] {10}\r\nabc".utf8))
        #expect(f.nextFrame() == nil)
        #expect(f.skip(lost: 4) == nil)
        f.append(Array("def)\r\n* 2 EXISTS\r\n".utf8))
        guard case .line(let l)? = f.nextFrame() else {
            Issue.record("no line")
            return
        }
        #expect(l.segments[0].literal?.lost == 4)
        #expect(l.wireBytes == 24 + 6 + 3)
        guard case .line(let n)? = f.nextFrame() else {
            Issue.record("no second line")
            return
        }
        #expect(String(decoding: n.segments[0].text, as: UTF8.self) == "* 2 EXISTS")
    }

    @Test func gapMidLineResynchronisesAtTheNextLine() {
        var f = LineFramer(pausesAtSynchronizingLiterals: false)
        f.append(Array("* 1 EXI".utf8))
        #expect(f.nextFrame() == nil)
        let partial = f.skip(lost: 10)
        #expect(partial.map { String(decoding: $0.segments[0].text, as: UTF8.self) } == "* 1 EXI")
        f.append(Array("STS\r\n* 2 EXISTS\r\n".utf8))
        #expect(f.nextFrame().map(describe) == "resync 5/5")
        #expect(f.nextFrame().map(describe) == "line * 2 EXISTS")
    }
}
