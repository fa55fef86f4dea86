@errors
Feature: Bad input gets a clear answer and the connection lives on
  A client with a bug sends something the backend cannot use. The backend says what is wrong,
  quickly, and the connection keeps working. Staying responsive and ending the conversation
  work at any time.

  Background:
    Given I am connected to the chat backend

  @garbled
  Scenario: A garbled message
    When I send a garbled message
    Then the backend says what is wrong with it
    And the connection still responds

  @no_text
  Scenario: A question with no text
    When I send a question with no text
    Then the backend says what is wrong with it
    And a next question is answered in full

  @blank_text
  Scenario: A question with a blank text
    When I send a question with a blank text
    Then the backend says what is wrong with it
    And a next question is answered in full

  @impossible_customer
  Scenario Outline: A question whose customer number is <customer> is refused, and the chat carries on
    When I send a question whose customer number is <customer>
    Then the backend answers with an error in time
    And a next question is answered in full

    Examples:
      | customer          |
      | a word            |
      | a negative number |

  @unnamed_customer
  Scenario Outline: A question whose customer number is <customer> is answered for the signed-in customer
    When I send a question whose customer number is <customer>
    Then the answer is complete and not empty

    Examples:
      | customer |
      | zero     |
      | empty    |
      | missing  |

  @not_text
  Scenario: A message that is not text does not break the connection
    When I send a message that is not text
    Then the connection still works, unless the backend closed it politely

  @large_question
  Scenario: A very large question is answered or refused politely
    When I send a question of 2 MB
    Then the backend answers it or refuses it politely
    And the connection still works, unless the backend closed it politely

  @responsive
  Scenario: The connection responds while an answer streams
    Given I have asked for a long answer
    When I check the connection while the answer streams
    Then it responds before the answer is finished

  @end_conversation
  Scenario: Ending the conversation
    When I ask to end the conversation
    Then the backend says goodbye
    And the connection ends cleanly
