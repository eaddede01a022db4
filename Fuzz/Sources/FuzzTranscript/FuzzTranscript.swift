import FuzzSupport
import IMAPCore
import IMAPTranscript

// The S:/C: transcript and fixture reader, and what it reads fed to the decoder as `read` does.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTranscript(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = FuzzInput(data, size).rest
    guard FixtureReader.looksLikeTranscript(bytes) else { return 0 }
    let sinks = AllSinks(showSecrets: false)
    // Blocks and a line limit that depend on the input's length, so lines cut across blocks and
    // lines passed on in pieces are covered as the fuzzer grows and shrinks inputs.
    let block = 1 + bytes.count % 61
    let decoding = TranscriptDecoding(name: "fuzz", session: "fuzz", options: DecoderOptions(),
                                      time: Timestamp(microseconds: 1_700_000_000_000_000), pipeline: sinks.pipeline,
                                      lineLimit: 64 + bytes.count % 200)
    do {
        var i = 0
        while i < bytes.count {
            try decoding.feed(bytes[i..<min(bytes.count, i + block)])
            i += block
        }
        try decoding.finish()
    } catch {
        // Not a transcript past some line: the session has ended there.
    }
    sinks.finish()
    return 0
}

@_cdecl("FuzzTranscript_main")
public func fuzzTranscriptMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzTranscript(data, size) }
}
