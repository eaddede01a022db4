import Testing

@testable import IMAPCore

@Suite("Command names")
struct CommandNameTests {
    @Test("every known name reads back from its text, and the grammar decodes it")
    func knownNamesRoundTrip() {
        #expect(CommandName.known.count == CommandName.indexCount - 1)
        #expect(Set(CommandName.known.map(\.index)).count == CommandName.known.count, "indices are distinct")
        for name in CommandName.known {
            #expect(CommandName(name.text) == name)
            #expect(name.text == name.text.uppercased())
            var probe = Command(tag: "a", name: name, uid: false, arguments: [])
            CommandGrammar.decode(&probe, line: RawLine(segments: []))
            #expect(probe.isKnown, "\(name) is an enum case the grammar does not decode")
        }
    }

    @Test(
        "wire text → name",
        arguments: [
            ("FETCH", CommandName.fetch), ("UNSELECT", .unselect), ("XLIST", .xlist), ("ID", .id),
            ("X-GM-EXT", .other("X-GM-EXT")), ("FETCHX", .other("FETCHX")), ("", .other("")),
        ])
    func readsWireText(_ text: String, _ expected: CommandName) {
        #expect(CommandName(text) == expected)
        #expect(CommandName(text).text == text)
        #expect(CommandName(text).isKnown == (text == expected.text && expected != .other(text)))
    }

    @Test("an unknown command keeps its name as sent and is not known to the grammar")
    func unknownCommand() throws {
        let cmd = try CommandParser.parse(Harness.line("a1 xyzzy 1 2\r\n"))
        #expect(cmd.name == .other("XYZZY"))
        #expect(!cmd.isKnown)
        #expect(cmd.argumentsHidden)
    }
}
