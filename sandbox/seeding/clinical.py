"""
About five years of clinical history for one member (US Core 3.1.1 profiles, PDex MedicationDispense
and Provenance), with the CARIN BB claims and PDex prior authorizations that go with it.

Visits before the member's coverage started were received from the prior payer: they carry no claims
of this payer and are the targets of one PDex Provenance. Behavioural health, HIV and substance-use
data carry v3 ActCode sensitivity labels and the restricted confidentiality code.
"""

import datetime as dt

from . import terminology as terms
from .builders import (
    ACT_CODE,
    CONFIDENTIALITY,
    CORE,
    PDEX,
    US_CORE,
    coding,
    concept,
    instant,
    meta,
    ref,
    seeded_random,
)
from .claims import CHARGES, PRIOR_AUTH_SERVICES, ClaimInput, Line, explanation_of_benefit, prior_authorization
from .members import Member
from .payer import PayerContext

OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
ENCOUNTER_CLASS = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"

# Yearly chance of a chronic condition appearing in the window, by age band where it matters.
_CHRONIC_RISK = {
    "hypertension": lambda age, sex: 0.0 if age < 30 else 0.05 + age / 200,
    "diabetes": lambda age, sex: 0.0 if age < 30 else 0.02 + age / 500,
    "hyperlipidemia": lambda age, sex: 0.0 if age < 35 else 0.05 + age / 250,
    "asthma": lambda age, sex: 0.08,
    "hypothyroidism": lambda age, sex: 0.0 if age < 20 else (0.08 if sex == "female" else 0.03),
    "depression": lambda age, sex: 0.0 if age < 14 else 0.08,
    "anxiety": lambda age, sex: 0.0 if age < 14 else 0.06,
    "hiv": lambda age, sex: 0.0 if age < 18 else 0.01,
    "alcohol": lambda age, sex: 0.0 if age < 18 else 0.03,
}
_DESIGNED_CHRONIC = {
    "unique": ("hypertension", "hyperlipidemia"),
    "twin-a": ("asthma",),
    "twin-b": ("asthma",),
    "sensitive": ("depression", "hiv", "alcohol"),
}


def security_labels(sensitivity: str | None) -> list[dict]:
    """meta.security for sensitive data: the v3 ActCode sensitivity code plus confidentiality R."""
    if not sensitivity:
        return []
    return [coding(ACT_CODE, sensitivity, terms.SENSITIVITY[sensitivity]), coding(CONFIDENTIALITY, "R", "restricted")]


def _quantity(value, unit, code):
    return {"value": value, "unit": unit, "system": terms.UCUM, "code": code}


def _dosage_text(drug: dict, acute: bool) -> str:
    name = drug["name"]
    if "Inhaler" in name:
        return "Inhale 2 puffs every 4 to 6 hours as needed"
    if "Oral Tablet" in name or "Oral Capsule" in name:
        return "Take 1 by mouth twice daily for 10 days" if acute else "Take 1 by mouth once daily"
    return "Use as directed"


class MemberHistory:
    """Builds one member's clinical resources, claims and prior authorizations, in date order."""

    def __init__(self, ctx: PayerContext, member: Member):
        self.ctx = ctx
        self.m = member
        self.rng = seeded_random(ctx.seed, "history", member.index)
        self.out: list[dict] = []
        self.prior_targets: list[dict] = []
        self._counters: dict[str, int] = {}
        self._vaccines: set[str] = set()
        self.active_chronic: dict[str, tuple[str, str]] = {}
        self.chronic_requests: list[tuple] = []
        # Sensitive visits go to the practice's psychiatrist or ID specialist when it has one, else the PCP.
        self._specialists = {p.specialty[0]: p for p in member.org.practitioners}

    # ids -------------------------------------------------------------------------------------------
    def _next_id(self, prefix: str) -> str:
        number = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = number
        return f"{prefix}-{self.m.index + 1:06d}-{number:03d}"

    def _emit(self, resource: dict, day: dt.date) -> dict:
        self.out.append(resource)
        if not self.m.covered_on(day) and day < self.m.coverage_start:
            self.prior_targets.append(ref(resource["resourceType"], resource["id"]))
        return resource

    def _meta(self, profiles, day: dt.date, sensitivity: str | None = None) -> dict:
        return meta(profiles, instant(day, 18), security_labels(sensitivity))

    # plan ------------------------------------------------------------------------------------------
    def build(self) -> list[dict]:
        """All history resources of the member (Provenance last), as a list bounded by one member."""
        m, rng = self.m, self.rng
        start, end = m.history_start, m.history_end
        if end <= start:
            return self.out
        self.height = rng.uniform(152, 190) if m.gender == "male" else rng.uniform(148, 178)
        self.bmi = rng.uniform(19, 36)

        chronic = {}
        forced = _DESIGNED_CHRONIC.get(m.designed, ())
        for name, risk in _CHRONIC_RISK.items():
            if name in forced or (not m.designed and rng.random() < risk(m.age_on(end), m.gender)):
                latest = max(start, end - dt.timedelta(days=60))
                onset = start + dt.timedelta(days=rng.randint(0, (latest - start).days))
                if m.designed:
                    # Designed members' diagnoses fall inside their coverage so this payer holds their claims.
                    onset = max(onset, m.coverage_start + dt.timedelta(days=30 + 20 * len(chronic)))
                chronic[name] = min(onset, end)

        events = []
        colonoscopy_planned = False
        slot = start
        while slot <= end:
            day = slot + dt.timedelta(days=rng.randint(0, 300))
            if day <= end and rng.random() < 0.85:
                events.append((day, 0, "wellness", None))
            for _ in range((rng.random() < 0.5) + (rng.random() < 0.15)):
                day = slot + dt.timedelta(days=rng.randint(0, 364))
                if day <= end:
                    events.append((day, 2, "acute", rng.choice(terms.ACUTE)))
            if rng.random() < 0.05:
                day = slot + dt.timedelta(days=rng.randint(0, 364))
                if day <= end:
                    events.append((day, 3, "emergency", None))
            if rng.random() < (0.04 if m.age_on(slot) >= 50 else 0.015):
                day = slot + dt.timedelta(days=rng.randint(0, 364))
                if day + dt.timedelta(days=6) <= end:
                    events.append((day, 4, "inpatient", rng.choice(sorted(terms.DRGS))))
            if m.age_on(slot) >= 45 and not colonoscopy_planned and rng.random() < 0.2:
                colonoscopy_planned = True
                day = slot + dt.timedelta(days=rng.randint(0, 364))
                if day <= end:
                    events.append((day, 5, "screening", "colonoscopy"))
            if m.gender == "female" and m.age_on(slot) >= 50 and rng.random() < 0.5:
                day = slot + dt.timedelta(days=rng.randint(0, 364))
                if day <= end:
                    events.append((day, 5, "screening", "mammography"))
            slot += dt.timedelta(days=365)
        for name, onset in chronic.items():
            events.append((onset, 1, "diagnosis", name))
            follow = onset + dt.timedelta(days=rng.randint(150, 365))
            while follow <= end:
                events.append((follow, 1, "followup", name))
                follow += dt.timedelta(days=rng.randint(300, 420))
        events.sort(key=lambda event: (event[0], event[1], event[2], event[3] or ""))

        self._allergy(events[0][0] if events else start)
        for day, _order, kind, detail in events:
            getattr(self, f"_{kind}")(day, detail)
        self._refills(end)
        self._prior_authorizations()
        self._provenance()
        return self.out

    # visits ----------------------------------------------------------------------------------------
    def _practitioner_for(self, sensitivity: str | None):
        wanted = {"PSY": "2084P0800X", "ETH": "2084P0800X", "HIV": "207RI0200X"}.get(sensitivity or "")
        return self._specialists.get(wanted, self.m.pcp) if wanted else self.m.pcp

    def _encounter(
        self, day, kind, type_code, reason=None, end_day=None, sensitivity=None, practitioner=None, org=None
    ):
        m = self.m
        practitioner = practitioner or self._practitioner_for(sensitivity)
        org = org or m.org
        encounter_id = self._next_id("enc")
        hour = self.rng.randint(8, 16)
        class_code, class_display = {
            "AMB": ("AMB", "ambulatory"),
            "EMER": ("EMER", "emergency"),
            "IMP": ("IMP", "inpatient encounter"),
        }[kind]
        resource = {
            "resourceType": "Encounter",
            "id": encounter_id,
            "meta": self._meta([US_CORE + "us-core-encounter"], end_day or day, sensitivity),
            "identifier": [
                {
                    "system": f"{self.ctx.payer.identifier_base}/{self.ctx.payer.slug}/encounter-id",
                    "value": encounter_id,
                }
            ],
            "status": "finished",
            "class": coding(ENCOUNTER_CLASS, class_code, class_display),
            "type": [concept(terms.CPT, type_code, terms.CPT_CODES[type_code])],
            "subject": ref("Patient", m.patient_id),
            "participant": [
                {
                    "type": [concept(PARTICIPATION, "PPRF", "primary performer")],
                    "individual": ref("Practitioner", practitioner.id),
                }
            ],
            "period": {"start": instant(day, hour), "end": instant(end_day or day, hour + 1 if not end_day else 11)},
        }
        if reason:
            snomed, display = terms.CONDITIONS[reason][0], terms.CONDITIONS[reason][1]
            resource["reasonCode"] = [concept(terms.SNOMED, snomed, display)]
        if kind == "IMP":
            resource["hospitalization"] = {
                "dischargeDisposition": concept(
                    "http://terminology.hl7.org/CodeSystem/discharge-disposition", "home", "Home"
                )
            }
        resource["location"] = [{"location": ref("Location", org.location_id, org.name)}]
        resource["serviceProvider"] = ref("Organization", org.id, org.name)
        self._emit(resource, day)
        return encounter_id, practitioner, org

    def _condition(self, day, name, encounter_id, chronic: bool, resolved_on=None):
        snomed, display, icd, icd_display, sensitivity = terms.CONDITIONS[name]
        condition_id = self._next_id("cond")
        resource = {
            "resourceType": "Condition",
            "id": condition_id,
            "meta": self._meta([US_CORE + "us-core-condition"], day, sensitivity),
            "clinicalStatus": concept(
                CONDITION_CLINICAL, "resolved" if resolved_on else "active", "Resolved" if resolved_on else "Active"
            ),
            "verificationStatus": concept(CONDITION_VERIFICATION, "confirmed", "Confirmed"),
            "category": [
                concept(
                    CONDITION_CATEGORY,
                    "problem-list-item" if chronic else "encounter-diagnosis",
                    "Problem List Item" if chronic else "Encounter Diagnosis",
                )
            ],
            "code": {
                "coding": [coding(terms.SNOMED, snomed, display), coding(terms.ICD10CM, icd, icd_display)],
                "text": display,
            },
            "subject": ref("Patient", self.m.patient_id),
            "encounter": ref("Encounter", encounter_id),
            "onsetDateTime": day.isoformat(),
        }
        if resolved_on and resolved_on > self.m.history_end:
            # Still ongoing when the record ends: an abatement date would lie in the future.
            resolved_on = None
            resource["clinicalStatus"] = concept(CONDITION_CLINICAL, "active", "Active")
        if resolved_on:
            resource["abatementDateTime"] = resolved_on.isoformat()
        resource["recordedDate"] = day.isoformat()
        self._emit(resource, day)
        return condition_id

    def _claim(
        self, kind, day, practitioner, org, diagnoses, lines, encounter_id, end_day=None, drg=None, sensitivity=None
    ):
        if not self.m.covered_on(day):
            return
        claim = ClaimInput(
            kind=kind,
            start=day,
            end=end_day or day,
            provider_org=org.id,
            provider_display=org.name,
            practitioner=practitioner.id,
            diagnoses=diagnoses,
            lines=lines,
            encounter_id=encounter_id,
            drg=drg,
            security=tuple(security_labels(sensitivity)),
        )
        self._emit_claim(claim, day)

    def _emit_claim(self, claim: ClaimInput, day):
        eob_id = self._next_id("eob")
        number = f"{self.ctx.payer.slug.upper()[:3]}{eob_id[4:].replace('-', '')}"
        self._emit(explanation_of_benefit(self.ctx, self.m, claim, eob_id, number, self.rng), day)

    def _line(self, code, revenue=None):
        return Line(
            code=code,
            display=terms.CPT_CODES[code],
            charge=round(CHARGES.get(code, 150) * self.rng.uniform(0.9, 1.3), 2),
            revenue=revenue,
        )

    def _diagnoses(self, *names):
        return [(terms.CONDITIONS[name][2], terms.CONDITIONS[name][3]) for name in names]

    def _wellness(self, day, _detail):
        m = self.m
        age = m.age_on(day)
        code = "99213" if age < 18 else ("99395" if age < 40 else ("99396" if age < 65 else "99397"))
        encounter_id, practitioner, org = self._encounter(day, "AMB", code)
        self._vitals(day, encounter_id, age)
        lines = [self._line(code)]
        panels = []
        if age >= 40 or "hyperlipidemia" in self.active_chronic:
            panels.append("57698-3")
        if {"hypertension", "diabetes"} & set(self.active_chronic) or age >= 50:
            panels.append("51990-0")
        if self.rng.random() < 0.3:
            panels.append("58410-2")
        for panel in panels:
            self._lab_panel(day, encounter_id, panel, practitioner, org)
            lines.append(self._line(terms.PANEL_CPT[panel]))
        for cvx in self._vaccines_due(day, age):
            self._immunization(day, encounter_id, cvx, practitioner, org)
            lines.append(self._line("90471"))
        diagnoses = self._diagnoses(*[n for n in self.active_chronic if terms.CONDITIONS[n][4] is None][:3])
        if not diagnoses:
            diagnoses = (
                [("Z00.129", "Encounter for routine child health examination without abnormal findings")]
                if age < 18
                else [("Z00.00", "Encounter for general adult medical examination without abnormal findings")]
            )
        self._claim("professional", day, practitioner, org, diagnoses, lines, encounter_id)

    def _vaccines_due(self, day, age):
        due = []
        for cvx, (_display, low, high, yearly) in terms.IMMUNIZATIONS.items():
            if not low <= age <= high or (cvx in self._vaccines and not yearly):
                continue
            if cvx == "208" and day < dt.date(2021, 1, 1):
                continue
            if self.rng.random() < (0.55 if yearly else 0.35):
                due.append(cvx)
                self._vaccines.add(cvx)
        return due

    def _diagnosis(self, day, name):
        sensitivity = terms.CONDITIONS[name][4]
        encounter_id, practitioner, org = self._encounter(day, "AMB", "99214", reason=name, sensitivity=sensitivity)
        condition_id = self._condition(day, name, encounter_id, chronic=True)
        self.active_chronic[name] = (condition_id, encounter_id)
        self._visit_content(day, name, encounter_id, practitioner, org, sensitivity)
        if name in terms.TREATMENTS:
            rxcui = terms.TREATMENTS[name][self.rng.randrange(len(terms.TREATMENTS[name]))]
            self._medication_request(day, encounter_id, practitioner, rxcui, acute=False, sensitivity=sensitivity)
        self._claim(
            "professional",
            day,
            practitioner,
            org,
            self._diagnoses(name),
            self._visit_lines(name),
            encounter_id,
            sensitivity=sensitivity,
        )

    def _followup(self, day, name):
        sensitivity = terms.CONDITIONS[name][4]
        encounter_id, practitioner, org = self._encounter(day, "AMB", "99214", reason=name, sensitivity=sensitivity)
        self._visit_content(day, name, encounter_id, practitioner, org, sensitivity)
        self._claim(
            "professional",
            day,
            practitioner,
            org,
            self._diagnoses(name),
            self._visit_lines(name),
            encounter_id,
            sensitivity=sensitivity,
        )

    def _visit_lines(self, name):
        lines = [self._line("99214")]
        extra = {"diabetes": "83036", "hiv": "87536", "depression": "90837", "hypertension": "93000"}.get(name)
        if extra:
            lines.append(self._line(extra))
        return lines

    def _visit_content(self, day, name, encounter_id, practitioner, org, sensitivity):
        if name == "hypertension":
            self._blood_pressure(day, encounter_id, high=True)
            self._procedure(day, encounter_id, "ecg", practitioner, org)
        elif name == "diabetes":
            self._lab_panel(day, encounter_id, "4548-4", practitioner, org)
        elif name == "hiv":
            self._lab_panel(day, encounter_id, "20447-9", practitioner, org)
        elif name == "depression":
            self._survey(day, encounter_id, "44261-6")
            self._procedure(day, encounter_id, "psychotherapy", practitioner, org)
        elif name == "anxiety":
            self._survey(day, encounter_id, "70274-6")

    def _acute(self, day, name):
        encounter_id, practitioner, org = self._encounter(day, "AMB", "99213", reason=name)
        self._condition(day, name, encounter_id, chronic=False, resolved_on=day + dt.timedelta(days=14))
        if name in terms.TREATMENTS and self.rng.random() < 0.7:
            rxcui = terms.TREATMENTS[name][self.rng.randrange(len(terms.TREATMENTS[name]))]
            self._medication_request(day, encounter_id, practitioner, rxcui, acute=True)
        self._claim("professional", day, practitioner, org, self._diagnoses(name), [self._line("99213")], encounter_id)

    def _emergency(self, day, _detail):
        hospital = self.ctx.pool.hospital
        doctor = hospital.practitioners[0]
        name = self.rng.choice(("back_pain", "bronchitis", "pneumonia"))
        encounter_id, practitioner, org = self._encounter(
            day, "EMER", "99284", reason=name, practitioner=doctor, org=hospital
        )
        self._condition(day, name, encounter_id, chronic=False, resolved_on=day + dt.timedelta(days=21))
        self._procedure(day, encounter_id, "chest_xray", practitioner, org)
        lines = [self._line("99284", revenue="0450"), self._line("71046", revenue="0320")]
        self._claim("outpatient", day, practitioner, org, self._diagnoses(name), lines, encounter_id)
        self._claim("professional", day, practitioner, org, self._diagnoses(name), [self._line("99284")], encounter_id)

    def _inpatient(self, day, drg):
        hospital = self.ctx.pool.hospital
        doctor = hospital.practitioners[1 % len(hospital.practitioners)]
        name = terms.DRGS[drg][1]
        discharge = day + dt.timedelta(days=self.rng.randint(2, 5))
        encounter_id, practitioner, org = self._encounter(
            day, "IMP", "99221", reason=name, end_day=discharge, practitioner=doctor, org=hospital
        )
        self._condition(
            day,
            name,
            encounter_id,
            chronic=False,
            resolved_on=None if name == "knee_oa" else discharge + dt.timedelta(days=30),
        )
        lines = [self._line("99221", revenue="0120"), self._line("85025", revenue="0300")]
        if drg == "470":
            self._procedure(day + dt.timedelta(days=1), encounter_id, "knee_replacement", practitioner, org)
            lines.append(self._line("27447", revenue="0360"))
        else:
            self._procedure(day, encounter_id, "chest_xray", practitioner, org)
            lines.append(self._line("71046", revenue="0320"))
        lines[0].charge = round(lines[0].charge * (discharge - day).days * 6, 2)
        self._claim(
            "inpatient", day, practitioner, org, self._diagnoses(name), lines, encounter_id, end_day=discharge, drg=drg
        )
        self._claim(
            "professional", discharge, practitioner, org, self._diagnoses(name), [self._line("99238")], encounter_id
        )

    def _screening(self, day, procedure):
        hospital = self.ctx.pool.hospital
        doctor = hospital.practitioners[2 % len(hospital.practitioners)]
        cpt = terms.PROCEDURES[procedure][0]
        encounter_id, practitioner, org = self._encounter(day, "AMB", "99213", practitioner=doctor, org=hospital)
        self._procedure(day, encounter_id, procedure, practitioner, org)
        revenue = "0750" if procedure == "colonoscopy" else "0403"
        diagnosis = (
            [("Z12.11", "Encounter for screening for malignant neoplasm of colon")]
            if procedure == "colonoscopy"
            else [("Z12.31", "Encounter for screening mammogram for malignant neoplasm of breast")]
        )
        self._claim("outpatient", day, practitioner, org, diagnosis, [self._line(cpt, revenue=revenue)], encounter_id)

    # observations ----------------------------------------------------------------------------------
    def _observation(self, day, encounter_id, category, code, display, profiles, sensitivity=None, **value):
        resource = {
            "resourceType": "Observation",
            "id": self._next_id("obs"),
            "meta": self._meta(profiles, day, sensitivity),
            "status": "final",
            "category": [
                concept(
                    OBS_CATEGORY,
                    category,
                    {"vital-signs": "Vital Signs", "laboratory": "Laboratory", "survey": "Survey"}[category],
                )
            ],
            "code": concept(terms.LOINC, code, display, text=display),
            "subject": ref("Patient", self.m.patient_id),
            "encounter": ref("Encounter", encounter_id),
            "effectiveDateTime": instant(day, 10),
        }
        resource.update(value)
        self._emit(resource, day)
        return resource["id"]

    def _vitals(self, day, encounter_id, age):
        rng = self.rng
        growth = min(1.0, 0.45 + age * 0.04)
        height = round(self.height * growth, 1)
        bmi = round((self.bmi if age >= 18 else 17.5) + rng.uniform(-0.8, 0.8), 1)
        weight = round(bmi * (height / 100) ** 2, 1)
        vital = [CORE + "vitalsigns"]
        self._observation(
            day,
            encounter_id,
            "vital-signs",
            "29463-7",
            "Body weight",
            [CORE + "bodyweight"] + vital,
            valueQuantity=_quantity(weight, "kg", "kg"),
        )
        self._observation(
            day,
            encounter_id,
            "vital-signs",
            "8302-2",
            "Body height",
            [CORE + "bodyheight"] + vital,
            valueQuantity=_quantity(height, "cm", "cm"),
        )
        if age >= 2:
            self._observation(
                day,
                encounter_id,
                "vital-signs",
                "39156-5",
                "Body mass index (BMI) [Ratio]",
                [CORE + "bmi"] + vital,
                valueQuantity=_quantity(bmi, "kg/m2", "kg/m2"),
            )
        self._observation(
            day,
            encounter_id,
            "vital-signs",
            "8867-4",
            "Heart rate",
            [CORE + "heartrate"] + vital,
            valueQuantity=_quantity(rng.randint(58, 96), "beats/minute", "/min"),
        )
        if age >= 3:
            self._blood_pressure(day, encounter_id, high="hypertension" in self.active_chronic)

    def _blood_pressure(self, day, encounter_id, high=False):
        rng = self.rng
        systolic = rng.randint(132, 158) if high else rng.randint(104, 128)
        diastolic = rng.randint(82, 96) if high else rng.randint(64, 82)
        mmhg = ("mm[Hg]", "mm[Hg]")
        self._observation(
            day,
            encounter_id,
            "vital-signs",
            "85354-9",
            "Blood pressure panel with all children optional",
            [CORE + "bp", CORE + "vitalsigns"],
            component=[
                {
                    "code": concept(terms.LOINC, "8480-6", "Systolic blood pressure"),
                    "valueQuantity": _quantity(systolic, *mmhg),
                },
                {
                    "code": concept(terms.LOINC, "8462-4", "Diastolic blood pressure"),
                    "valueQuantity": _quantity(diastolic, *mmhg),
                },
            ],
        )

    def _lab_panel(self, day, encounter_id, panel, practitioner, org):
        display, members, sensitivity = terms.PANELS[panel]
        results = []
        for loinc in members:
            name, unit, ucum, low, high, decimals = terms.LABS[loinc]
            if loinc == "4548-4" and "diabetes" in self.active_chronic:
                low, high = 6.5, 9.5
            value = round(self.rng.uniform(low, high), decimals)
            value = int(value) if decimals == 0 else value
            results.append(
                self._observation(
                    day,
                    encounter_id,
                    "laboratory",
                    loinc,
                    name,
                    [US_CORE + "us-core-observation-lab"],
                    sensitivity,
                    valueQuantity=_quantity(value, unit, ucum),
                )
            )
        self._emit(
            {
                "resourceType": "DiagnosticReport",
                "id": self._next_id("dr"),
                "meta": self._meta([US_CORE + "us-core-diagnosticreport-lab"], day, sensitivity),
                "status": "final",
                "category": [concept("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB", "Laboratory")],
                "code": concept(terms.LOINC, panel, display, text=display),
                "subject": ref("Patient", self.m.patient_id),
                "encounter": ref("Encounter", encounter_id),
                "effectiveDateTime": instant(day, 10),
                "issued": instant(min(day + dt.timedelta(days=1), self.m.history_end), 8),
                "performer": [ref("Organization", org.id, org.name)],
                "resultsInterpreter": [ref("Practitioner", practitioner.id)],
                "result": [ref("Observation", result) for result in results],
            },
            day,
        )

    def _survey(self, day, encounter_id, loinc):
        display, unit, low, high, sensitivity = terms.SURVEYS[loinc]
        self._observation(
            day,
            encounter_id,
            "survey",
            loinc,
            display,
            [US_CORE + "us-core-observation-survey"],
            sensitivity,
            valueQuantity={"value": self.rng.randint(low, high), "unit": "score", "system": terms.UCUM, "code": unit},
        )

    # other clinical resources -----------------------------------------------------------------------
    def _procedure(self, day, encounter_id, key, practitioner, org):
        cpt, snomed, display, sensitivity = terms.PROCEDURES[key]
        self._emit(
            {
                "resourceType": "Procedure",
                "id": self._next_id("proc"),
                "meta": self._meta([US_CORE + "us-core-procedure"], day, sensitivity),
                "status": "completed",
                "code": {
                    "coding": [coding(terms.CPT, cpt, terms.CPT_CODES[cpt]), coding(terms.SNOMED, snomed, display)],
                    "text": display,
                },
                "subject": ref("Patient", self.m.patient_id),
                "encounter": ref("Encounter", encounter_id),
                "performedDateTime": instant(day, 11),
                "performer": [
                    {"actor": ref("Practitioner", practitioner.id), "onBehalfOf": ref("Organization", org.id)}
                ],
                "location": ref("Location", org.location_id),
            },
            day,
        )

    def _immunization(self, day, encounter_id, cvx, practitioner, org):
        self._emit(
            {
                "resourceType": "Immunization",
                "id": self._next_id("imm"),
                "meta": self._meta([US_CORE + "us-core-immunization"], day),
                "status": "completed",
                "vaccineCode": concept(terms.CVX, cvx, terms.IMMUNIZATIONS[cvx][0]),
                "patient": ref("Patient", self.m.patient_id),
                "encounter": ref("Encounter", encounter_id),
                "occurrenceDateTime": instant(day, 11),
                "primarySource": True,
                "location": ref("Location", org.location_id),
                "performer": [{"actor": ref("Practitioner", practitioner.id)}],
            },
            day,
        )

    def _allergy(self, day):
        if self.m.designed != "unique" and self.rng.random() >= 0.2:
            return
        key = "penicillin" if self.m.designed == "unique" else self.rng.choice(sorted(terms.ALLERGIES))
        snomed, display, category = terms.ALLERGIES[key]
        self._emit(
            {
                "resourceType": "AllergyIntolerance",
                "id": self._next_id("allergy"),
                "meta": self._meta([US_CORE + "us-core-allergyintolerance"], day),
                "clinicalStatus": concept(
                    "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active"
                ),
                "verificationStatus": concept(
                    "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "confirmed", "Confirmed"
                ),
                "type": "allergy",
                "category": [category],
                "criticality": "low",
                "code": concept(terms.SNOMED, snomed, display, text=display),
                "patient": ref("Patient", self.m.patient_id),
                "recordedDate": instant(day, 9),
                "recorder": ref("Practitioner", self.m.pcp.id),
            },
            day,
        )

    def _medication_request(self, day, encounter_id, practitioner, rxcui, acute, sensitivity=None):
        drug = terms.drugs_by_rxcui()[rxcui]
        request_id = self._next_id("medreq")
        supply = 10 if acute else 90
        self._emit(
            {
                "resourceType": "MedicationRequest",
                "id": request_id,
                "meta": self._meta([US_CORE + "us-core-medicationrequest"], day, sensitivity),
                "status": "completed" if acute or not self.m.covered_on(self.m.history_end) else "active",
                "intent": "order",
                "medicationCodeableConcept": concept(terms.RXNORM, rxcui, drug["name"], text=drug["name"]),
                "subject": ref("Patient", self.m.patient_id),
                "encounter": ref("Encounter", encounter_id),
                "authoredOn": instant(day, 12),
                "requester": ref("Practitioner", practitioner.id),
                "dosageInstruction": [{"text": _dosage_text(drug, acute)}],
                "dispenseRequest": {
                    "numberOfRepeatsAllowed": 0 if acute else 3,
                    "quantity": {"value": supply if "Oral" in drug["name"] else 1},
                    "expectedSupplyDuration": {"value": supply, "unit": "days", "system": terms.UCUM, "code": "d"},
                },
            },
            day,
        )
        if acute:
            handed_over = min(day + dt.timedelta(days=self.rng.randint(0, 2)), self.m.history_end)
            self._dispense(handed_over, request_id, practitioner, drug, supply, 0, sensitivity)
        else:
            self.chronic_requests.append((day, request_id, practitioner, drug, sensitivity))

    def _refills(self, end):
        # Four quarterly fills at most per long-term drug: enough history without drowning a member in claims.
        for day, request_id, practitioner, drug, sensitivity in self.chronic_requests:
            fill = max(day, end - dt.timedelta(days=360))
            number = 0
            while fill <= end and number < 4:
                self._dispense(fill, request_id, practitioner, drug, 90, number, sensitivity)
                fill += dt.timedelta(days=90)
                number += 1

    def _dispense(self, day, request_id, practitioner, drug, supply, refill, sensitivity):
        pool = self.ctx.pool
        pharmacy = pool.pharmacies[(self.m.index + refill) % len(pool.pharmacies)]
        quantity = supply if "Oral" in drug["name"] else 1
        self._emit(
            {
                "resourceType": "MedicationDispense",
                "id": self._next_id("meddisp"),
                "meta": self._meta([PDEX + "pdex-medicationdispense"], day, sensitivity),
                "status": "completed",
                "medicationCodeableConcept": concept(terms.RXNORM, drug["rxcui"], drug["name"], text=drug["name"]),
                "subject": ref("Patient", self.m.patient_id),
                "performer": [{"actor": ref("Organization", pharmacy.id, pharmacy.name)}],
                "location": ref("Location", pharmacy.location_id),
                "authorizingPrescription": [ref("MedicationRequest", request_id)],
                "type": concept(ACT_CODE, "FF" if refill == 0 else "RF", "First Fill" if refill == 0 else "Refill"),
                "quantity": {"value": quantity},
                "daysSupply": _quantity(supply, "days", "d"),
                "whenHandedOver": instant(day, 15),
            },
            day,
        )
        if self.m.covered_on(day):
            charge = round(self.rng.uniform(8, 40) * (supply / 30), 2)
            if drug["class"] in ("hiv", "oncology-oral", "biologic", "specialty"):
                charge *= 60
            claim = ClaimInput(
                kind="pharmacy",
                start=day,
                end=day,
                provider_org=pharmacy.id,
                provider_display=pharmacy.name,
                practitioner=practitioner.id,
                lines=[Line(drug["rxcui"], drug["name"], round(charge, 2), system=terms.RXNORM)],
                days_supply=supply,
                refill=refill,
                security=tuple(security_labels(sensitivity)),
            )
            self._emit_claim(claim, day)

    # payer records ---------------------------------------------------------------------------------
    def _prior_authorizations(self):
        m, rng = self.m, self.rng
        today = self.ctx.reference_date
        if m.coverage_end is not None:
            return
        if m.designed == "unique":
            plans = [(60, "approved", 0), (5, "pending", 1), (500, "denied", 2), (200, "partial", 3)]
        elif m.designed or rng.random() >= 0.25:
            return
        else:
            plans = [
                (
                    rng.randint(5, 700),
                    rng.choice(("approved", "approved", "pending", "denied", "partial")),
                    rng.randrange(len(PRIOR_AUTH_SERVICES)),
                )
            ]
        for days_ago, decision, service in plans:
            requested = max(m.coverage_start, today - dt.timedelta(days=days_ago))
            pa_id = self._next_id("pa")
            number = f"PA{self.ctx.payer.slug.upper()[:3]}{pa_id[3:].replace('-', '')}"
            self._emit(
                prior_authorization(
                    self.ctx,
                    m,
                    pa_id=pa_id,
                    number=number,
                    service=PRIOR_AUTH_SERVICES[service],
                    decision=decision,
                    requested=requested,
                    provider_org=m.org,
                    practitioner=m.pcp,
                ),
                requested,
            )

    def _provenance(self):
        m = self.m
        if m.prior_payer is None or not self.prior_targets:
            return
        received = m.coverage_start + dt.timedelta(days=14)
        self.out.append(
            {
                "resourceType": "Provenance",
                "id": self._next_id("prov"),
                "meta": meta([PDEX + "pdex-provenance"], instant(received)),
                "target": self.prior_targets,
                "recorded": instant(received, 9),
                "agent": [
                    {
                        "type": concept(
                            "http://hl7.org/fhir/us/core/CodeSystem/us-core-provenance-participant-type",
                            "transmitter",
                            "Transmitter",
                        ),
                        "who": ref("Organization", m.prior_payer.id, m.prior_payer.name),
                    },
                    {
                        "type": concept(
                            "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "author", "Author"
                        ),
                        "who": ref("Organization", m.prior_payer.id, m.prior_payer.name),
                    },
                ],
                "entity": [
                    {
                        "extension": [
                            {
                                "url": PDEX + "ProvenanceSourceFrom",
                                "valueCodeableConcept": concept(
                                    "http://hl7.org/fhir/us/davinci-pdex/CodeSystem/ProvenancePayerDataSource",
                                    "hl7v2adt",
                                    "HL7 v2 ADT",
                                ),
                            }
                        ],
                        "role": "source",
                        "what": {
                            "display": f"Member history received from {m.prior_payer.name} (payer-to-payer exchange)"
                        },
                    }
                ],
            }
        )
