"""Calls between special tokens, with JSON arguments (Kimi-K2, DeepSeek V3 / V3.1 / R1).

Both dialects write a section of calls, each a head (Kimi's ``functions.NAME:IDX``, DeepSeek's
name), a separator token, the arguments object and an end token::

    SECTION_OPEN CALL_OPEN head SEPARATOR {json} CALL_CLOSE … SECTION_CLOSE

Strategy
--------
* In text, a call opener starts a call; the section tokens, and the other tokens of a call
  found outside one, are removed (they are the format's, never prose).
* The head is read up to the separator (at most ``NAME_LIMIT`` characters); the dialect turns
  it into a name (``name_of``), or says the name follows on the next line (DeepSeek V3).
* The arguments stream through ``ArgumentsText`` up to ``CALL_CLOSE`` (or, if the model left
  it out, the next call's opener or the section's end). The call is one if they are a JSON
  object; otherwise, as for a call that the output cuts off, its text without the tokens
  goes out (as content once the call was announced, which then stays unended).
"""

from __future__ import annotations

from glm_proxy.dialects._json import ArgumentsText
from glm_proxy.dialects._tags import Tags, scan
from glm_proxy.dialects._text import NAME_LIMIT, NON_SPACE, TextMachine


class SectionMachine(TextMachine):
    """A ``TextMachine`` for sectioned calls; a dialect sets the tokens and ``name_of``."""

    call_open: str = ""
    separator: str = ""
    call_close: str = ""
    section_open: tuple[str, ...] = ()
    section_close: tuple[str, ...] = ()
    name_line_head: str | None = None
    """A head after which the name is on the line after the separator (DeepSeek V3's
    ``function``), unless the arguments follow at once (V3.1 calling a tool of that name)."""

    _tokens: tuple[str, ...]
    _head_tags: Tags
    _args_tags: Tags
    _head: str
    _name: str
    _args: ArgumentsText

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        # The tags each state looks for, made once per dialect from its tokens.
        cls.openers = (cls.call_open,)
        cls.strays = (*cls.section_open, *cls.section_close, cls.separator, cls.call_close)
        cls._tokens = (cls.call_open, cls.separator, cls.call_close, *cls.section_close)
        cls._head_tags = Tags(*cls._tokens)
        cls._args_tags = Tags(cls.call_close, cls.call_open, *cls.section_close)

    def name_of(self, head: str) -> str | None:
        """The tool name that a call's head gives, or None (not a call)."""
        raise NotImplementedError

    def open_call(self, marker: str) -> None:
        self._head = ""
        self._name = ""
        self._reader = self._in_head

    def _in_head(self, data: str, pos: int) -> int:
        i, tag = scan(data, pos, self._head_tags)
        self._head += data[pos:i]
        if len(self._head) > NAME_LIMIT or (tag is not None and tag != self.separator):
            self.call_as_text(self._plain(data[pos:i]))  # no separator: not a call
            return i
        if tag is None:
            return self.hold(data, i)
        if self.name_line_head is not None and self._head.strip() == self.name_line_head:
            self._head = ""
            self._reader = self._in_name_line
            return i + len(tag)
        name = self.name_of(self._head)
        if not name:
            self.call_as_text(self._plain(data[pos:i]))
            return i + len(tag)
        self._begin_args(name)
        return i + len(tag)

    def _in_name_line(self, data: str, pos: int) -> int:
        """DeepSeek V3: ``function<sep>NAME\\n```json\\n{…}\\n```<end>``."""
        if not self._head.strip():
            first = NON_SPACE.search(data, pos)
            if first is None:
                self._head += data[pos:]
                return self.hold(data, len(data))
            if data[first.start()] == "{":  # V3.1 calling a tool named like the head
                self._begin_args(self.name_line_head or "")
                return first.start()
        end = data.find("\n", pos)
        stop = len(data) if end < 0 else end
        lt = data.find("<", pos, stop)
        if lt >= 0:
            i, tag = scan(data, lt, self._head_tags)
            if i < stop:
                if tag is not None:  # a token before the name's line ended: not a call
                    self.call_as_text(self._plain(data[pos:i]))
                    return i
                self._head += data[pos:i]  # a token may start here
                return self.hold(data, i)
        if end < 0:
            self._head += data[pos:]
            if len(self._head) > NAME_LIMIT:
                self.call_as_text(self._plain(data[pos:]))
                return len(data)
            return self.hold(data, len(data))
        name = (self._head + data[pos:end]).strip()
        if not name or len(name) > NAME_LIMIT:
            self.call_as_text(self._plain(data[pos:end]))
            return end
        self._begin_args(name)
        return end + 1

    def _begin_args(self, name: str) -> None:
        self._name = name
        self._args = ArgumentsText(self._cap)
        self._reader = self._in_args

    def _in_args(self, data: str, pos: int) -> int:
        i, tag = scan(data, pos, self._args_tags)
        if i > pos:
            self.send(self._name, self._args.read(data[pos:i]))
            if self._args.overflow:
                self.call_as_text(self._plain(data[pos:i]))
                return i
        if tag is None:
            return self.hold(data, i)
        end = i + len(tag) if tag == self.call_close else i  # a missing end: the tag is text's
        rest = self._args.finish()
        if rest is None:
            self.call_as_text(self._plain(data[pos:end]))
        else:
            self.end_call(self._name, rest)
        return end

    def quick_args(self, text: str) -> str | None:
        """The fast path of ``_in_args``: a piece with no ``<`` (no token can start in it) of
        arguments already streaming goes straight to them (``TextMachine.quick_args``)."""
        if self._reader == self._in_args and "<" not in text:
            return self._args.read(text)
        return None

    def close_call(self, buf: str) -> None:
        self.cut_off(self._plain(buf))

    def _plain(self, data: str) -> str:
        """The call's text read so far and ``data``, without the tokens."""
        text = self.raw_text(data)
        for token in self._tokens:
            if token in text:
                text = text.replace(token, "")
        return text
