@tools
Feature: The assistant uses tools
  In agent mode the assistant can call tools, such as the image generator. The customer sees
  each tool start and then its result, and the result is the real thing.

  Scenario: The assistant makes a picture with the image tool
    Given I am connected to the chat backend
    When I ask the assistant, in agent mode, to make a picture
    Then the assistant calls the image tool
    And every tool call is followed by its result
    And the picture it made is a real image
    And the tool events arrive in the promised order
