@p1 @mrr:120k @area:platform @owner:platform-team
Feature: Platform health
  Load balancers, monitoring and on-call engineers rely on the backend to say truthfully,
  and quickly, that it is up and that its database is connected.

  Scenario: The backend reports itself up within its budget
    When the release gate checks the backend's health
    Then the backend reports itself up within 2 seconds

  Scenario: The backend reports its database connected
    When the release gate checks the backend's detailed health
    Then the core database is reported connected
