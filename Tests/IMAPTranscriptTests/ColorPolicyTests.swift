import IMAPTranscript
import Testing

/// One colour rule for every text output (read, sniff, diff, the proxy's transcript).
@Suite("Colour policy")
struct ColorPolicyTests {
    @Test(
        "auto colours a terminal unless NO_COLOR is set to something; always and never are what they say",
        arguments: [
            (ColorChoice.auto, true, [String: String](), true),
            (.auto, false, [:], false),
            (.auto, true, ["NO_COLOR": "1"], false),
            // no-color.org: an empty NO_COLOR does not turn colour off.
            (.auto, true, ["NO_COLOR": ""], true),
            (.always, false, ["NO_COLOR": "1"], true),
            (.never, true, [:], false),
        ])
    func rule(_ choice: ColorChoice, _ terminal: Bool, _ environment: [String: String], _ expected: Bool) {
        #expect(choice.enabled(isTerminal: terminal, environment: environment) == expected)
    }
}
