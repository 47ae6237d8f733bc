@p1 @mrr:120k @area:auth @owner:identity-team
Feature: Sign-in for release checks
  The release gate signs in test users through the staging sign-in bypass. If the bypass
  fails, nothing behind sign-in can be verified; if it lets a wrong key in, staging is open.

  Scenario: A test user signs in through the staging sign-in bypass
    When a test user signs in with the bypass key
    Then the user receives an access token that the auth service accepts

  Scenario: A sign-in with a wrong bypass key is refused
    When someone signs in with a wrong bypass key
    Then the sign-in is refused
