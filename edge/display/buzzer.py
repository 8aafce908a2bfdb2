"""The optional GPIO buzzer: the same two tones as the page, for a station whose screen faces away.

gpiozero exists only on the Pi (from the OS); it is imported when a buzzer pin is configured, never before.
"""

from __future__ import annotations

import enum
from typing import Any, Protocol

from edge import EdgeError


class Tone(enum.Enum):
    SUCCESS = "success"
    ERROR = "error"


class BuzzerError(EdgeError):
    """The configured buzzer cannot be driven (gpiozero missing, pin busy or not a GPIO pin)."""


class Buzzer(Protocol):
    """Something that can play a tone without blocking the caller."""

    def play(self, tone: Tone) -> None: ...

    def close(self) -> None: ...


class GpioBuzzer:
    """An active buzzer on a GPIO pin: one short beep for success, three for an error."""

    def __init__(self, pin: int) -> None:
        try:
            from gpiozero import Buzzer as GpioZeroBuzzer  # type: ignore[import-not-found]  # Pi only, from apt
        except ImportError as exc:
            raise BuzzerError("kiosk.buzzer_pin is set but gpiozero is not installed "
                              "(on Raspberry Pi OS: apt install python3-gpiozero)") from exc
        try:
            self._buzzer: Any = GpioZeroBuzzer(pin)
        except Exception as exc:  # gpiozero raises its own tree (BadPinFactory, PinInvalidPin, ...)
            raise BuzzerError(f"cannot drive a buzzer on GPIO pin {pin}: {exc}") from exc

    def play(self, tone: Tone) -> None:
        if tone is Tone.SUCCESS:
            self._buzzer.beep(on_time=0.12, off_time=0.05, n=1, background=True)
        else:
            self._buzzer.beep(on_time=0.08, off_time=0.08, n=3, background=True)

    def close(self) -> None:
        self._buzzer.close()


class RecordingBuzzer:
    """A buzzer without hardware that remembers what it played (tests, and stations without a buzzer)."""

    def __init__(self) -> None:
        self.played: list[Tone] = []

    def play(self, tone: Tone) -> None:
        self.played.append(tone)

    def close(self) -> None:
        pass
