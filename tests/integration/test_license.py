#!/usr/bin/python3
"""TAP test of the license statements: the tree is Apache-2.0 (LICENSE, the
SDK headers' SPDX lines, the Debian copyright file), and third parties are
told they may license their plugins as they wish (README.md, the template).
"""

import os
import re
import sys

from harness import check, contains, eq, read_text, run, test

SRC = os.environ.get("VAPROXY_SRCDIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPDX = "/* SPDX-License-Identifier: Apache-2.0 */"
DEBIAN_TEXT = "/usr/share/common-licenses/Apache-2.0"


def src(*parts):
    return read_text(os.path.join(SRC, *parts))


@test("LICENSE is the full Apache License 2.0 text")
def _():
    text = src("LICENSE")
    contains(text, "Apache License\n                           Version 2.0, January 2004",
             "the title")
    contains(text, "END OF TERMS AND CONDITIONS", "the end of the terms")
    contains(text, "APPENDIX: How to apply the Apache License to your work.", "the appendix")
    if os.path.exists(DEBIAN_TEXT):
        eq(text, read_text(DEBIAN_TEXT), f"the same text as {DEBIAN_TEXT}")


@test("every SDK header starts with the SPDX line")
def _():
    d = os.path.join(SRC, "include", "vaproxy")
    headers = sorted(f for f in os.listdir(d) if f.endswith(".h"))
    check(len(headers) >= 5, f"found the headers: {headers}")
    eq([h for h in headers if src("include", "vaproxy", h).split("\n", 1)[0] != SPDX], [],
       f"headers whose first line is not {SPDX}")


@test("contrib/debian/copyright: DEP-5, every file Apache-2.0, the common-licenses text")
def _():
    paragraphs = [p for p in re.split(r"\n\s*\n", src("contrib", "debian", "copyright")) if p]
    contains(paragraphs[0], "Format: https://www.debian.org/doc/packaging-manuals/"
             "copyright-format/1.0/", "the DEP-5 header")
    files = [p for p in paragraphs if p.startswith("Files: *\n")]
    eq(len(files), 1, "one Files: * paragraph")
    contains(files[0], "\nLicense: Apache-2.0", "Files: * is Apache-2.0")
    stand_alone = [p for p in paragraphs if p.startswith("License: Apache-2.0\n")]
    eq(len(stand_alone), 1, "one stand-alone License: Apache-2.0 paragraph")
    contains(stand_alone[0], DEBIAN_TEXT, "points at the common-licenses text")


@test("README.md and the plugin template say plugins may be licensed as their authors wish")
def _():
    readme = src("README.md")
    contains(readme, "\n## License\n", "a License section")
    section = readme.split("\n## License\n", 1)[1]
    contains(section, "Apache License, Version 2.0", "names the license")
    contains(section, "open or closed", "third-party plugins: open or closed")
    contains(src("sdk", "template", "README.md"), "license the plugin you build from it as\n"
             "you wish", "the template's note")


if __name__ == "__main__":
    sys.exit(run())
