import FuzzSupport
import IMAPCore
import IMAPTranscript

// The S:/C: transcript and fixture reader, and what it reads fed to the decoder as `read` does.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTranscript(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = FuzzInput(data, size).rest
    guard FixtureReader.looksLikeTranscript(bytes), let chunks = try? FixtureReader.read(bytes) else { return 0 }
    var options = DecoderOptions()
    options.inflateAfterCompress = !FixtureReader.isDecompressed(bytes)
    let decoder = SessionDecoder(options: options)
    let sinks = AllSinks(showSecrets: false)
    let time = Timestamp(microseconds: 1_700_000_000_000_000)
    sinks.publish(decoder.start(client: "0.0.0.0:0", server: "0.0.0.0:143", source: "transcript", time: time),
                  session: "fuzz")
    for chunk in chunks { sinks.publish(decoder.feed(chunk.direction, chunk.bytes, time: time), session: "fuzz") }
    sinks.publish(decoder.finish(reason: "end of transcript", time: time), session: "fuzz")
    sinks.finish()
    return 0
}

@_cdecl("FuzzTranscript_main")
public func fuzzTranscriptMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzTranscript(data, size) }
}
