"""athena's insurance package catalogue as the emulator knows it (API-NOTES 1.4, 3.4;
REVENUE-CYCLE 5.2).

An insurance package is athena's unit of "which plan of which payer": a patient
insurance points at one by ``insurancepackageid``. Package 0 is ``*SELF PAY*``
and -500 ``PAYMENT PLAN``; neither is insurance, so neither becomes a FHIR
Coverage. Ids, names, addresses and phones of 0, -500, 1, 8477, 9037, 18669,
31724 and 90283 come from the sandbox recordings (NET ``GetTop.json``,
``GetPatientInsurances.json``); every other package is [G] (plausible names,
made-up ids above 900000 so they never collide with real ones).

Each package also carries what the emulator's simulated payer does with a 270
(:mod:`emulator.eligibility`): ``payer`` is ``normal``, ``slow`` (the 271
arrives after ``EmulatorConfig.eligibility_delay_seconds``) or ``down``
(AAA 42, unable to respond) [G: an emulator device, fixed per package].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Kind = Literal["commercial", "medicare", "medicaid", "advantage", "supplement", "selfpay"]
Payer = Literal["normal", "slow", "down"]

SELF_PAY: Final = 0
PAYMENT_PLAN: Final = -500
# PHIN VADS Source of Payment Typology (us-core-coverage Coverage.type, extensible).
SOP_SYSTEM: Final = "urn:oid:2.16.840.1.113883.3.221.5"


@dataclass(frozen=True)
class InsurancePackage:
    """One package; field names follow athena's (``insurancepackage*``, ``ircname``)."""

    insurancepackageid: int
    insuranceplanname: str
    insuranceplandisplayname: str
    ircname: str  # "Insurance category / company"
    ircid: int  # [G] values
    insurancetype: str  # athena's free text, e.g. "Group Policy", "Medicare Part B"
    producttype: str  # insuranceproducttypename: PPO, HMO, "Medicare B-Traditional", ...
    kind: Kind
    x12_type: str  # X12 insurance type code (EB04): PR, HM, MB, MC, SP, C1, HN
    sop: tuple[str, str]  # Source of Payment Typology code and display
    address1: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    phone: str = ""
    states: tuple[str, ...] = ()  # where it is sold (seed, stateofcoverage); () = nationwide
    affiliations: tuple[str, ...] = ()
    member_prefix: str = ""  # what its member ids start with (seed, memberid search)
    payer: Payer = "normal"

    @property
    def is_insurance(self) -> bool:
        """False for self-pay and payment plan: no payer, no Coverage, no 270."""
        return self.kind != "selfpay"

    def address_line(self) -> str:
        """The ``addresslist`` form seen in /insurancepackages (NET ``Search.json``)."""
        return f"{self.address1}  {self.city} {self.state} {self.zip}".strip()


_PRIVATE = ("5", "PRIVATE HEALTH INSURANCE")
_PPO = ("512", "Commercial Managed Care - PPO")
_HMO = ("511", "Commercial Managed Care - HMO")
_BC_PPO = ("612", "BC Managed Care - PPO")
_MEDICARE = ("121", "Medicare FFS")
_ADVANTAGE = ("111", "Medicare HMO")
_MEDICAID = ("2", "MEDICAID")
_SUPPLEMENT = ("5", "PRIVATE HEALTH INSURANCE")
_SELF = ("81", "Self-pay")

# fmt: off
_FIXED: list[InsurancePackage] = [
    InsurancePackage(0, "*SELF PAY*", "*SELF PAY*", "Self-Pay (cash)", 0,
                     "Personal Payment (Cash - No Insurance)", "", "selfpay", "", _SELF),
    InsurancePackage(-500, "PAYMENT PLAN", "PAYMENT PLAN", "Payment Plan", 0,
                     "Personal Payment (Cash - No Insurance)", "", "selfpay", "", _SELF),
    InsurancePackage(8477, "BCBS-MA: BCBS (PPO)", "BCBS-MA (PPO)", "BCBS-MA", 24,
                     "Group Policy", "PPO", "commercial", "PR", _BC_PPO,
                     "PO BOX 986020", "BOSTON", "MA", "02298-6020", "(800) 882-2060",
                     ("MA",), ("Blue Cross Blue Shield of Massachusetts",), "XKB"),
    InsurancePackage(90283, "BCBS-MA: SAVER DEDUCTIBLE (PPO)", "BCBS-MA Saver (PPO)", "BCBS-MA", 24,
                     "Group Policy", "PPO", "commercial", "PR", _BC_PPO,
                     "PO BOX 986020", "BOSTON", "MA", "02298-6020", "(800) 443-6657",
                     ("MA",), ("Blue Cross Blue Shield of Massachusetts", "Saver"), "XKS"),
    InsurancePackage(9037, "BCBS-TN: (PPO)", "BCBS-TN (PPO)", "BCBS-TN", 31,
                     "Group Policy", "PPO", "commercial", "PR", _BC_PPO,
                     "1 CAMERON HILL CIR STE 2", "CHATTANOOGA", "TN", "37402-0002", "(800) 705-0391",
                     ("TN", "GA"), ("BlueCross BlueShield of Tennessee",), "ZTN"),
    InsurancePackage(31724, "HUMANA (PPO)", "Humana (PPO)", "Humana", 12,
                     "Commercial", "PPO", "commercial", "PR", _PPO,
                     "PO BOX 14601", "LEXINGTON", "KY", "40512-4601", "(800) 558-4444",
                     (), (), "H"),
    InsurancePackage(1, "CIGNA HEALTHCARE (HMO)", "Cigna (HMO)", "Cigna", 7,
                     "Health Maintenance Organization (HMO)", "HMO", "commercial", "HM", _HMO,
                     "PO BOX 182223", "CHATTANOOGA", "TN", "37422-7223", "(800) 244-6224",
                     (), ("Great-West Healthcare",), "U"),
    InsurancePackage(18669, "MEDICARE-TN (MEDICARE)", "Medicare (TN)", "Medicare", 2,
                     "Medicare Part B", "Medicare B-Traditional", "medicare", "MB", _MEDICARE,
                     "PO BOX 100306", "COLUMBIA", "SC", "29202-3306", "(877) 567-7271",
                     ("TN",), ("Palmetto GBA",), ""),
    # [G] from here on.
    InsurancePackage(900101, "AETNA (PPO)", "Aetna (PPO)", "Aetna", 5,
                     "Commercial", "PPO", "commercial", "PR", _PPO,
                     "PO BOX 981106", "EL PASO", "TX", "79998-1106", "(888) 632-3862",
                     (), ("Aetna Choice POS II",), "W"),
    InsurancePackage(900102, "UNITED HEALTHCARE (PPO)", "UnitedHealthcare (PPO)", "United Healthcare", 9,
                     "Commercial", "PPO", "commercial", "PR", _PPO,
                     "PO BOX 740800", "ATLANTA", "GA", "30374-0800", "(877) 842-3210",
                     (), ("UHC", "Options PPO"), "9"),
    InsurancePackage(900103, "UNITED HEALTHCARE (HMO)", "UnitedHealthcare (HMO)", "United Healthcare", 9,
                     "Health Maintenance Organization (HMO)", "HMO", "commercial", "HM", _HMO,
                     "PO BOX 740800", "ATLANTA", "GA", "30374-0800", "(877) 842-3210",
                     (), ("UHC",), "8"),
    InsurancePackage(900104, "HARVARD PILGRIM HEALTH CARE (HMO)", "Harvard Pilgrim (HMO)", "Harvard Pilgrim", 15,
                     "Health Maintenance Organization (HMO)", "HMO", "commercial", "HM", _HMO,
                     "PO BOX 699183", "QUINCY", "MA", "02269-9183", "(888) 333-4742",
                     ("MA", "VT"), (), "HP", payer="down"),
    InsurancePackage(900105, "TUFTS HEALTH PLAN (HMO)", "Tufts Health Plan (HMO)", "Tufts Health Plan", 16,
                     "Health Maintenance Organization (HMO)", "HMO", "commercial", "HM", _HMO,
                     "PO BOX 9185", "WATERTOWN", "MA", "02471-9185", "(800) 462-0224",
                     ("MA",), (), "TH"),
    InsurancePackage(900106, "BCBS-VT (PPO)", "BCBS-VT (PPO)", "BCBS-VT", 33,
                     "Group Policy", "PPO", "commercial", "PR", _BC_PPO,
                     "PO BOX 186", "MONTPELIER", "VT", "05601-0186", "(800) 247-2583",
                     ("VT",), ("Blue Cross and Blue Shield of Vermont",), "ZIV"),
    InsurancePackage(900107, "MVP HEALTH CARE (HMO)", "MVP Health Care (HMO)", "MVP Health Care", 34,
                     "Health Maintenance Organization (HMO)", "HMO", "commercial", "HM", _HMO,
                     "PO BOX 2207", "SCHENECTADY", "NY", "12301-2207", "(800) 777-4793",
                     ("VT",), (), "MV"),
    InsurancePackage(900108, "KAISER PERMANENTE (HMO)", "Kaiser Permanente (HMO)", "Kaiser Permanente", 18,
                     "Health Maintenance Organization (HMO)", "HMO", "commercial", "HM", _HMO,
                     "PO BOX 7004", "DOWNEY", "CA", "90242-7004", "(800) 464-4000",
                     ("CA", "OR", "GA", "HI"), (), "KP"),
    InsurancePackage(900109, "TRICARE EAST", "TRICARE East", "Tricare", 40,
                     "Other Federal Program", "OTHER", "commercial", "C1", ("311", "TRICARE (CHAMPUS)"),
                     "PO BOX 7981", "MADISON", "WI", "53707-7981", "(800) 444-5445",
                     (), ("Humana Military",), "TE"),
    InsurancePackage(900110, "HUMANA GOLD PLUS (MEDICARE ADVANTAGE HMO)", "Humana Medicare Advantage (HMO)",
                     "Humana", 12, "Medicare Advantage", "Medicare Advantage", "advantage", "HN", _ADVANTAGE,
                     "PO BOX 14601", "LEXINGTON", "KY", "40512-4601", "(800) 457-4708",
                     (), ("Humana Gold Plus",), "HG"),
    InsurancePackage(900111, "AARP MEDICARE SUPPLEMENT (UHC)", "AARP Medicare Supplement", "United Healthcare", 9,
                     "Medicare Supplement", "Medigap", "supplement", "SP", _SUPPLEMENT,
                     "PO BOX 740819", "ATLANTA", "GA", "30374-0819", "(800) 523-5800",
                     (), ("AARP", "Medigap Plan G"), "AS"),
]
# fmt: on

# (state, Medicare package id, MAC, MAC city/state/zip, Medicaid package id, Medicaid name,
#  Medicaid member-id prefix, Medicare payer behaviour)
# fmt: off
_STATE_PROGRAMS: list[tuple[str, int, str, str, int, str, str, Payer]] = [
    ("MA", 900201, "NGS", "SYRACUSE NY 13221-6474", 900301, "MASSHEALTH (MEDICAID)", "10", "slow"),
    ("TX", 900202, "NOVITAS", "MECHANICSBURG PA 17055-3098", 900302, "TEXAS MEDICAID (TMHP)", "5", "normal"),
    ("AZ", 900203, "NORIDIAN", "FARGO ND 58108-6702", 900303, "AHCCCS (MEDICAID)", "A", "normal"),
    ("CA", 900204, "NORIDIAN", "FARGO ND 58108-6775", 900304, "MEDI-CAL (MEDICAID)", "9", "normal"),
    ("OR", 900205, "NORIDIAN", "FARGO ND 58108-6702", 900305, "OREGON HEALTH PLAN (MEDICAID)", "OR", "normal"),
    ("GA", 900206, "PALMETTO GBA", "COLUMBIA SC 29202-3306", 900306, "GEORGIA MEDICAID", "GA", "normal"),
    ("HI", 900207, "NORIDIAN", "FARGO ND 58108-6775", 900307, "HAWAII MED-QUEST (MEDICAID)", "HI", "normal"),
    ("VT", 900208, "NGS", "SYRACUSE NY 13221-6474", 900308, "GREEN MOUNTAIN CARE (VT MEDICAID)", "VT", "normal"),
    ("FL", 900209, "FIRST COAST", "JACKSONVILLE FL 32231-0048", 900309, "FLORIDA MEDICAID", "FL", "normal"),
    ("TN", 18669, "PALMETTO GBA", "COLUMBIA SC 29202-3306", 900310, "TENNCARE (MEDICAID)", "TC", "normal"),
]
# fmt: on


# [G] Medicaid claim addresses: the state capital.
_MEDICAID_CITY: Final[dict[str, tuple[str, str]]] = {
    "MA": ("BOSTON", "02108"), "TX": ("AUSTIN", "78711"), "AZ": ("PHOENIX", "85007"),
    "CA": ("SACRAMENTO", "95814"), "OR": ("SALEM", "97301"), "GA": ("ATLANTA", "30303"),
    "HI": ("HONOLULU", "96813"), "VT": ("WATERBURY", "05671"), "FL": ("TALLAHASSEE", "32399"),
    "TN": ("NASHVILLE", "37243"),
}  # fmt: skip


def _state_packages() -> list[InsurancePackage]:
    out = []
    for state, medicare, mac, where, medicaid, name, prefix, payer in _STATE_PROGRAMS:
        city, mac_state, mac_zip = where.rsplit(" ", 2)
        if medicare != 18669:  # MEDICARE-TN is a recorded package (above)
            out.append(
                InsurancePackage(
                    medicare,
                    f"MEDICARE-{state} (MEDICARE)",
                    f"Medicare ({state})",
                    "Medicare",
                    2,
                    "Medicare Part B",
                    "Medicare B-Traditional",
                    "medicare",
                    "MB",
                    _MEDICARE,
                    "PO BOX 6474",
                    city,
                    mac_state,
                    mac_zip,
                    "(877) 567-7271",
                    (state,),
                    (mac,),
                    "",
                    payer,
                )
            )
        out.append(
            InsurancePackage(
                medicaid,
                name,
                name.title(),
                f"Medicaid-{state}",
                3,
                "Medicaid",
                "Medicaid",
                "medicaid",
                "MC",
                _MEDICAID,
                "PO BOX 9118",
                _MEDICAID_CITY[state][0],
                state,
                _MEDICAID_CITY[state][1],
                "(800) 555-0199",
                (state,),
                (),
                prefix,
            )
        )
    return out


PACKAGES: Final[dict[int, InsurancePackage]] = {
    p.insurancepackageid: p for p in [*_FIXED, *_state_packages()]
}


def package(packageid: int) -> InsurancePackage | None:
    return PACKAGES.get(packageid)


def medicare_for(state: str) -> InsurancePackage:
    """The Medicare (Part B MAC) package for a state; MEDICARE-MA when unknown [G]."""
    for row in _STATE_PROGRAMS:
        if row[0] == state:
            return PACKAGES[row[1]]
    return PACKAGES[_STATE_PROGRAMS[0][1]]


def medicaid_for(state: str) -> InsurancePackage:
    for row in _STATE_PROGRAMS:
        if row[0] == state:
            return PACKAGES[row[4]]
    return PACKAGES[_STATE_PROGRAMS[0][4]]


def commercial_for(state: str) -> list[InsurancePackage]:
    """Commercial packages sold in ``state`` (nationwide ones included), in id order."""
    return [
        p
        for _, p in sorted(PACKAGES.items())
        if p.kind == "commercial" and (not p.states or state in p.states)
    ]
