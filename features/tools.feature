@tools
Feature: The assistant uses tools
  With tools switched on, the assistant can call them, such as a web search or the image generator.
  I see each tool start, then its result, once, when the tool reports one, and the answer still
  comes in full. Which question makes the assistant use which tool is the assistant's own choice:
  the run's settings name the question and the tool, and whether the tools report results
  (README, Settings).

  Background:
    Given I am connected to the assistant

  @tool_call
  Scenario: The assistant calls its tool and the answer completes
    When I ask the assistant a question that needs its tool, with tools switched on
    Then the assistant calls the tool
    And each tool result comes once, after the call it answers
    And every tool call gets its result, unless the settings say the tools report none
    And the answer is complete and not empty
    And the answer with its tool arrives in the right order

  @image
  Scenario: The assistant makes a picture with the image tool
    When I ask the assistant a question that needs its tool, with tools switched on
    Then the assistant calls the tool
    And the picture it made is a real image
