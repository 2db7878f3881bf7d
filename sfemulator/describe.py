"""Describe results in Salesforce's shape (the configuration screens read types, lengths and
picklists from them, so every key a real describe has is present)."""

from __future__ import annotations

from typing import Any

from sfemulator.schema import SOBJECTS, Field, SObjectType

_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "double": "xsd:double",
    "int": "xsd:int",
    "currency": "xsd:double",
    "percent": "xsd:double",
}


def _urls(sobject: SObjectType, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{sobject.name}"
    return {
        "compactLayouts": f"{base}/describe/compactLayouts",
        "rowTemplate": f"{base}/{{ID}}",
        "approvalLayouts": f"{base}/describe/approvalLayouts",
        "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
        "describe": f"{base}/describe",
        "quickActions": f"{base}/quickActions",
        "layouts": f"{base}/describe/layouts",
        "sobject": base,
    }


def describe_field(item: Field) -> dict[str, Any]:
    text_like = item.type not in _SOAP_TYPES
    picklist_values = [
        {
            "active": entry.active,
            "defaultValue": entry.default,
            "label": entry.value,
            "validFor": None,
            "value": entry.value,
        }
        for entry in item.picklist
    ]
    filterable = item.filterable
    return {
        "aggregatable": filterable and item.type != "boolean",
        "aiPredictionField": False,
        "autoNumber": False,
        "byteLength": item.length * 3
        if text_like
        else (18 if item.type in ("id", "reference") else 0),
        "calculated": item.calculated,
        "calculatedFormula": None,
        "cascadeDelete": False,
        "caseSensitive": False,
        "compoundFieldName": None,
        "controllerName": None,
        "createable": item.createable,
        "custom": item.custom,
        "defaultValue": item.default_value,
        "defaultValueFormula": None,
        "defaultedOnCreate": item.defaulted_on_create,
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": 0,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": item.external_id,
        "extraTypeInfo": item.extra_type_info,
        "filterable": filterable,
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": filterable and item.type not in ("double", "datetime"),
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": item.id_lookup,
        "inlineHelpText": None,
        "label": item.label,
        "length": item.length if text_like or item.type in ("id", "reference") else 0,
        "mask": None,
        "maskType": None,
        "name": item.name,
        "nameField": item.name_field,
        "namePointing": False,
        "nillable": item.nillable,
        "permissionable": item.nillable and item.createable,
        "picklistValues": picklist_values,
        "polymorphicForeignKey": False,
        "precision": item.precision,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": list(item.reference_to),
        "relationshipName": item.relationship_name,
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": item.restricted,
        "scale": item.scale,
        "searchPrefilterable": False,
        "soapType": _SOAP_TYPES.get(item.type, "xsd:string"),
        "sortable": filterable,
        "type": item.type,
        "unique": item.unique,
        "updateable": item.updateable,
        "writeRequiresMasterRead": False,
    }


def _object_flags(sobject: SObjectType, version: str) -> dict[str, Any]:
    return {
        "activateable": False,
        "associateEntityType": None,
        "associateParentEntity": None,
        "createable": True,
        "custom": sobject.custom,
        "customSetting": False,
        "deepCloneable": False,
        "deletable": sobject.deletable,
        "deprecatedAndHidden": False,
        "feedEnabled": False,
        "hasSubtypes": False,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": sobject.key_prefix,
        "label": sobject.label,
        "labelPlural": sobject.label_plural,
        "layoutable": True,
        "mergeable": sobject.name in ("Account", "Contact"),
        "mruEnabled": True,
        "name": sobject.name,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "searchable": True,
        "triggerable": True,
        "undeletable": sobject.deletable,
        "updateable": True,
        "urls": _urls(sobject, version),
    }


def describe_sobject(sobject: SObjectType, version: str) -> dict[str, Any]:
    return {
        **_object_flags(sobject, version),
        "actionOverrides": [],
        "childRelationships": _child_relationships(sobject),
        "compactLayoutable": True,
        "defaultImplementation": None,
        "extendedBy": None,
        "extendsInterfaces": None,
        "fields": [describe_field(item) for item in sobject.fields],
        "implementedBy": None,
        "implementsInterfaces": None,
        "listviewable": None,
        "lookupLayoutable": None,
        "namedLayoutInfos": [],
        "networkScopeFieldName": None,
        "recordTypeInfos": [],
        "searchLayoutable": True,
        "sobjectDescribeOption": "FULL",
        "supportedScopes": [
            {"label": "All " + sobject.label_plural.lower(), "name": "everything"},
        ],
    }


def _child_relationships(parent: SObjectType) -> list[dict[str, Any]]:
    children = []
    for child in SOBJECTS.values():
        for item in child.fields:
            if parent.name in item.reference_to and item.name not in (
                "CreatedById",
                "LastModifiedById",
            ):
                children.append(
                    {
                        "cascadeDelete": False,
                        "childSObject": child.name,
                        "deprecatedAndHidden": False,
                        "field": item.name,
                        "junctionIdListNames": [],
                        "junctionReferenceTo": [],
                        "relationshipName": None,
                        "restrictedDelete": False,
                    }
                )
    return children


def global_describe(version: str) -> dict[str, Any]:
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [_object_flags(s, version) for s in SOBJECTS.values()],
    }


def basic_info(sobject: SObjectType, version: str, recent: list[dict[str, Any]]) -> dict[str, Any]:
    return {"objectDescribe": _object_flags(sobject, version), "recentItems": recent}
