"""A standalone Salesforce REST API emulator for Cockpit's tests, demo and benchmarks.

It speaks HTTPS, OAuth, sObject CRUD, SOQL, sObject Collections, getUpdated/getDeleted, limits
and faults well enough that unmodified Salesforce clients (simple-salesforce) work against it.
It imports nothing from Django: see docs/sfemulator.md.
"""
