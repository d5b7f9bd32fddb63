"""Home country of a mobile country code (ITU-T E.212), for roaming breakdowns."""

from __future__ import annotations

#: MCC to ISO 3166-1 alpha-2 country code (ITU-T E.212 list of mobile country codes).
MCC_COUNTRY: dict[int, str] = {
    202: "GR", 204: "NL", 206: "BE", 208: "FR", 212: "MC", 213: "AD", 214: "ES", 216: "HU",
    218: "BA", 219: "HR", 220: "RS", 221: "XK", 222: "IT", 225: "VA", 226: "RO", 228: "CH",
    230: "CZ", 231: "SK", 232: "AT", 234: "GB", 235: "GB", 238: "DK", 240: "SE", 242: "NO",
    244: "FI", 246: "LT", 247: "LV", 248: "EE", 250: "RU", 255: "UA", 257: "BY", 259: "MD",
    260: "PL", 262: "DE", 266: "GI", 268: "PT", 270: "LU", 272: "IE", 274: "IS", 276: "AL",
    278: "MT", 280: "CY", 282: "GE", 283: "AM", 284: "BG", 286: "TR", 288: "FO", 290: "GL",
    292: "SM", 293: "SI", 294: "MK", 295: "LI", 297: "ME", 302: "CA", 310: "US", 311: "US",
    312: "US", 313: "US", 314: "US", 315: "US", 316: "US", 334: "MX", 404: "IN", 405: "IN",
    410: "PK", 424: "AE", 425: "IL", 440: "JP", 441: "JP", 450: "KR", 452: "VN", 454: "HK",
    460: "CN", 466: "TW", 502: "MY", 505: "AU", 510: "ID", 515: "PH", 520: "TH", 525: "SG",
    530: "NZ", 602: "EG", 603: "DZ", 604: "MA", 605: "TN", 621: "NG", 624: "CM", 630: "CD",
    655: "ZA", 724: "BR", 722: "AR", 730: "CL", 732: "CO",
}  # fmt: skip


def country_of_mcc(mcc: int) -> str:
    """ISO 3166-1 alpha-2 code of an MCC's country, or ``"MCC <n>"`` when not listed."""
    return MCC_COUNTRY.get(int(mcc), f"MCC {int(mcc)}")
